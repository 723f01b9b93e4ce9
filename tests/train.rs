//! Training behaviour through the public API: reproducibility, divergence
//! and the model file round trip.

use descent::data::{Rating, Ratings};
use descent::model::persist;
use descent::{fit, Error, Model, TrainParams, Trainer};

/// A small deterministic rating set with structure to learn: users and
/// items each fall in one of two groups, and a user rates items of the
/// own group higher.
fn grouped_ratings() -> Ratings {
    let mut ratings = Ratings::default();
    for user in 0..60u32 {
        for item in 0..40u32 {
            if (user * 7 + item * 3) % 4 == 0 {
                continue;
            }
            let same = (user % 2) == (item % 2);
            let value = if same { 4.5 } else { 1.5 } + (item % 3) as f32 * 0.2;
            let user = ratings.users.intern(&format!("u{user}"));
            let item = ratings.items.intern(&format!("i{item}"));
            ratings.entries.push(Rating { user, item, value });
        }
    }
    ratings
}

fn params(threads: usize) -> TrainParams {
    TrainParams {
        factors: 8,
        epochs: 15,
        threads,
        blocks: 4,
        ..TrainParams::default()
    }
}

fn assert_identical(a: &Model, b: &Model) {
    assert_eq!(a.user_factors, b.user_factors);
    assert_eq!(a.item_factors, b.item_factors);
    assert_eq!(a.user_bias, b.user_bias);
    assert_eq!(a.item_bias, b.item_bias);
}

#[test]
fn same_seed_bit_identical() {
    let ratings = grouped_ratings();
    let first = fit(&ratings, &params(2)).unwrap();
    let second = fit(&ratings, &params(2)).unwrap();
    assert_identical(&first, &second);
}

#[test]
fn thread_count_does_not_change_model() {
    let ratings = grouped_ratings();
    let one = fit(&ratings, &params(1)).unwrap();
    let two = fit(&ratings, &params(2)).unwrap();
    assert_identical(&one, &two);
}

#[test]
fn thread_count_same_model_plain_sgd() {
    let ratings = grouped_ratings();
    let plain = |threads| TrainParams {
        adagrad: false,
        ..params(threads)
    };
    let one = fit(&ratings, &plain(1)).unwrap();
    let two = fit(&ratings, &plain(2)).unwrap();
    assert_identical(&one, &two);
    let adagrad = fit(&ratings, &params(2)).unwrap();
    assert_ne!(one.user_factors, adagrad.user_factors);
}

#[test]
fn other_seed_other_model() {
    let ratings = grouped_ratings();
    let first = fit(&ratings, &params(2)).unwrap();
    let other = TrainParams {
        seed: 7,
        ..params(2)
    };
    let second = fit(&ratings, &other).unwrap();
    assert_ne!(first.user_factors, second.user_factors);
}

#[test]
fn learns_group_structure() {
    let ratings = grouped_ratings();
    let model = fit(&ratings, &params(2)).unwrap();
    // (u0, i0) is held out by the filter above; both are in group 0.
    let same = model.predict("u0", "i0");
    let other = model.predict("u0", "i1");
    assert!(same.fallback.is_none());
    assert!(same.value > 3.5, "same-group prediction {}", same.value);
    assert!(other.value < 2.5, "other-group prediction {}", other.value);
}

#[test]
fn held_out_rmse_matches_rmse_on() {
    let ratings = grouped_ratings();
    let mut test = grouped_ratings();
    let stranger = test.users.intern("stranger");
    let item = test.items.intern("i1");
    test.entries.push(Rating {
        user: stranger,
        item,
        value: 3.0,
    });
    let mut trainer = Trainer::new(&ratings, &params(1)).unwrap();
    let held_out = trainer.map_held_out(&test);
    assert_eq!(held_out.len(), ratings.len(), "the stranger is left out");
    for _ in 0..3 {
        trainer.epoch().unwrap();
        let rmse = trainer.rmse_on_held_out(&held_out);
        assert!(rmse.is_some());
        assert_eq!(rmse, trainer.rmse_on(&test));
    }

    let mut unknown = Ratings::default();
    let user = unknown.users.intern("stranger");
    let item = unknown.items.intern("i1");
    unknown.entries.push(Rating {
        user,
        item,
        value: 3.0,
    });
    let empty = trainer.map_held_out(&unknown);
    assert!(empty.is_empty());
    assert_eq!(trainer.rmse_on_held_out(&empty), None);
}

#[test]
fn huge_learning_rate_reports_divergence() {
    let ratings = grouped_ratings();
    let wild = TrainParams {
        learning_rate: 50.0,
        ..params(2)
    };
    match fit(&ratings, &wild) {
        Err(Error::Diverged { epoch, .. }) => assert!(epoch >= 1),
        other => panic!("expected divergence, got {other:?}"),
    }
}

#[test]
fn model_file_round_trip() {
    let ratings = grouped_ratings();
    let model = fit(&ratings, &params(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.dsc");
    persist::save(&model, &path, false).unwrap();
    let loaded = persist::load(&path).unwrap();
    assert_eq!(loaded, model);

    let again = persist::save(&model, &path, false).unwrap_err();
    assert!(matches!(again, Error::AlreadyExists { .. }), "{again}");
    persist::save(&model, &path, true).unwrap();
}

#[test]
fn damaged_model_file_rejected() {
    let ratings = grouped_ratings();
    let model = fit(&ratings, &params(2)).unwrap();
    let mut bytes = persist::to_bytes(&model).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    let path = std::path::Path::new("flipped.dsc");
    let error = persist::from_bytes(&bytes, path).unwrap_err().to_string();
    assert!(error.contains("flipped.dsc"), "{error}");
    assert!(error.contains("checksum"), "{error}");

    let error = persist::from_bytes(&bytes[..40], path)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a readable descent model"), "{error}");
}
