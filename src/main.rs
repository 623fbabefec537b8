fn main() -> std::process::ExitCode {
    zenqms_bridge::cli::main()
}
