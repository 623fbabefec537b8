//! Build-time check of the libpq choice (see `[features]` in Cargo.toml): `bundled-libpq`
//! (the default: libpq and OpenSSL compiled in) or `system-libpq` (the system's libraries),
//! never both — cargo unifies features, so both at once would silently build the bundled copy
//! while a packager believes the system one is linked.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let bundled = std::env::var_os("CARGO_FEATURE_BUNDLED_LIBPQ").is_some();
    let system = std::env::var_os("CARGO_FEATURE_SYSTEM_LIBPQ").is_some();
    if bundled && system {
        eprintln!(
            "error: the features `bundled-libpq` and `system-libpq` exclude each other.\n\
             `bundled-libpq` is on by default; to link the system libpq and OpenSSL build with\n\
             \n    cargo build --release --no-default-features --features system-libpq\n"
        );
        std::process::exit(1);
    }
    if !bundled && !system {
        println!(
            "cargo:warning=neither `bundled-libpq` nor `system-libpq` is on: linking the system \
             libpq (as `system-libpq` would); say `--features system-libpq` to make it explicit"
        );
    }
}
