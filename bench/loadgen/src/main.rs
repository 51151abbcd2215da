//! Load generator (under construction, issue 5).

fn main() {}
