//! The `feedwatch` command line (placeholder; being written).

fn main() {}
