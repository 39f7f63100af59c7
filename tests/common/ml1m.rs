//! A generated ML-1M folder in the original format (`users.dat`, `movies.dat`,
//! `ratings.dat`, `::`-separated, ISO-8859-1) whose users fall into seven age groups under
//! `group_by: {field: age, bins: [18, 25, 35, 45, 50, 56]}`, for the tests of more than two
//! groups.

use std::path::Path;

/// ML-1M's age codes, one group each under the bins below.
pub const AGES: [u32; 7] = [1, 18, 25, 35, 45, 50, 56];
/// The groups the bins give, in order.
pub const GROUPS: [&str; 7] = ["<18", "18-25", "25-35", "35-45", "45-50", "50-56", ">=56"];
/// Users per group, movies per group's own block, shared movies.
pub const USERS: usize = 4;
pub const BLOCK: usize = 5;
pub const SHARED: usize = 10;

/// Writes the three `.dat` files: user `u` of group `k` rates the 5 movies of block `k`
/// (stereotyped for `k`) and 9 of the shared movies, 14 ratings in a user-specific order
/// with ratings 1-5, so every user has 4 windows of 11.
pub fn write_ml1m(dir: &Path) {
    let mut users = String::new();
    let mut ratings = String::new();
    let mut movies: Vec<u8> = Vec::new();
    let n_movies = GROUPS.len() * BLOCK + SHARED;
    for m in 1..=n_movies {
        // ISO-8859-1 bytes, as the original files (é is one byte, 0xE9).
        movies.extend(format!("{m}::Film{m} Caf").bytes());
        movies.push(0xE9);
        movies.extend(format!(" ({})::Drama\n", 1980 + m).bytes());
    }
    for (k, age) in AGES.iter().enumerate() {
        for j in 0..USERS {
            let u = k * USERS + j + 1;
            let gender = if u % 2 == 0 { "M" } else { "F" };
            users.push_str(&format!("{u}::{gender}::{age}::{j}::0000{j}\n"));
            let own = (0..BLOCK).map(|b| k * BLOCK + b + 1);
            let shared = (0..SHARED)
                .filter(|s| *s != j)
                .map(|s| GROUPS.len() * BLOCK + s + 1);
            for (t, m) in own.chain(shared).enumerate() {
                let rating = 1 + (u * 7 + m * 3 + t) % 5;
                let ts = 1_000_000 + ((t * 5 + u) % 14) * 100 + t;
                ratings.push_str(&format!("{u}::{m}::{rating}::{ts}\n"));
            }
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("users.dat"), users).unwrap();
    std::fs::write(dir.join("movies.dat"), movies).unwrap();
    std::fs::write(dir.join("ratings.dat"), ratings).unwrap();
}
