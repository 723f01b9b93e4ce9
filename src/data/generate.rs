//! Synthetic data (placeholder until the generator lands).
#![allow(missing_docs, dead_code, unused)]
use crate::data::Ratings;
use crate::error::Result;
pub struct SyntheticSpec { pub users: usize, pub items: usize, pub ratings: usize, pub rank: usize, pub noise: f32, pub popularity_exponent: f64, pub activity_spread: f64, pub seed: u64 }
impl Default for SyntheticSpec { fn default() -> Self { SyntheticSpec { users: 2000, items: 1500, ratings: 150_000, rank: 10, noise: 0.5, popularity_exponent: 0.8, activity_spread: 1.0, seed: 1 } } }
impl SyntheticSpec { pub fn validate(&self) -> Result<()> { Ok(()) } }
pub struct Synthetic { pub ratings: Ratings, pub expected: Vec<f32>, pub titles: Vec<String>, pub genres: Vec<String> }
impl Synthetic { pub fn noise_floor(&self) -> f64 { todo!() } pub fn noise_floor_at(&self, _p: &[usize]) -> f64 { todo!() } pub fn write(&self, _d: &std::path::Path, _f: bool) -> Result<()> { todo!() } }
pub fn generate(_spec: &SyntheticSpec) -> Result<Synthetic> { todo!() }
