//! Importing an org snapshot into the directory (step 4; see reader.rs).
