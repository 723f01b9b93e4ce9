//! Saves and loads models as safetensors files.
//!
//! A model file is a [safetensors](https://github.com/huggingface/safetensors)
//! container, so any safetensors reader can load its arrays:
//!
//! | tensor | dtype | shape |
//! |---|---|---|
//! | `user_factors` | F32 | users x factors |
//! | `item_factors` | F32 | items x factors |
//! | `user_bias` | F32 | users |
//! | `item_bias` | F32 | items |
//! | `user_ids` | U8 | UTF-8 ids joined by `\n`, in row order |
//! | `item_ids` | U8 | likewise for items |
//! | `rated_indptr` | U64 | users + 1: CSR row pointers of training |
//! | `rated_items` | U32 | training ratings: item index per rating |
//!
//! The header metadata holds `format` (`descent-model`), `format_version`,
//! `global_mean`, `rating_min`, `rating_max`, `params` (the training
//! settings as JSON) and `checksum`, a CRC-32 of the other metadata
//! entries (in key order) followed by the tensor bytes in the
//! order of the table above. The keys of the JSON header are sorted, so
//! the same model always gives the same bytes.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::data::IdMap;
use crate::error::{Error, Result};
use crate::model::params::TrainParams;
use crate::model::Model;

const FORMAT: &str = "descent-model";
const FORMAT_VERSION: &str = "1";

/// Tensors in checksum order.
const TENSORS: [&str; 8] = [
    "user_factors",
    "item_factors",
    "user_bias",
    "item_bias",
    "user_ids",
    "item_ids",
    "rated_indptr",
    "rated_items",
];

/// The element type of each tensor, in the order of [`TENSORS`].
const DTYPES: [Dtype; 8] = [
    Dtype::F32,
    Dtype::F32,
    Dtype::F32,
    Dtype::F32,
    Dtype::U8,
    Dtype::U8,
    Dtype::U64,
    Dtype::U32,
];

fn join_ids(ids: &IdMap, kind: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (index, id) in ids.ids().enumerate() {
        if id.contains('\n') {
            return Err(Error::Invalid(format!(
                "cannot save {kind} id {id:?}: ids must not contain a newline"
            )));
        }
        if index > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(id.as_bytes());
    }
    Ok(out)
}

/// Serializes `model` to the bytes of a model file.
///
/// # Errors
///
/// Fails when an id contains a newline.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>> {
    let k = model.factors();
    let users = model.users.len();
    let items = model.items.len();
    let indptr: Vec<u64> =
        model.rated_indptr.iter().map(|&p| p as u64).collect();
    let user_ids = join_ids(&model.users, "user")?;
    let item_ids = join_ids(&model.items, "item")?;
    let parts: [(Dtype, Vec<usize>, &[u8]); 8] = [
        (
            Dtype::F32,
            vec![users, k],
            bytemuck::cast_slice(&model.user_factors),
        ),
        (
            Dtype::F32,
            vec![items, k],
            bytemuck::cast_slice(&model.item_factors),
        ),
        (
            Dtype::F32,
            vec![users],
            bytemuck::cast_slice(&model.user_bias),
        ),
        (
            Dtype::F32,
            vec![items],
            bytemuck::cast_slice(&model.item_bias),
        ),
        (Dtype::U8, vec![user_ids.len()], &user_ids),
        (Dtype::U8, vec![item_ids.len()], &item_ids),
        (
            Dtype::U64,
            vec![indptr.len()],
            bytemuck::cast_slice(&indptr),
        ),
        (
            Dtype::U32,
            vec![model.rated_items.len()],
            bytemuck::cast_slice(&model.rated_items),
        ),
    ];
    let mut views = Vec::with_capacity(parts.len());
    let mut tensor_bytes: Vec<&[u8]> = Vec::with_capacity(parts.len());
    for (name, (dtype, shape, bytes)) in TENSORS.iter().zip(parts) {
        tensor_bytes.push(bytes);
        let view = TensorView::new(dtype, shape, bytes)
            .expect("tensor shapes match their data");
        views.push((*name, view));
    }
    let params = serde_json::to_string(&model.params)
        .expect("training settings serialize to JSON");
    let mut metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("global_mean".to_string(), model.global_mean.to_string()),
        ("rating_min".to_string(), model.rating_range.0.to_string()),
        ("rating_max".to_string(), model.rating_range.1.to_string()),
        ("params".to_string(), params),
        (
            "created_by".to_string(),
            format!("descent {}", env!("CARGO_PKG_VERSION")),
        ),
    ]);
    let sum = checksum(&metadata, tensor_bytes);
    metadata.insert("checksum".to_string(), sum);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Invalid(format!("cannot serialize model: {e}")))?;
    Ok(sort_header(bytes))
}

/// The JSON header of a safetensors file, with its keys in sorted order
/// when written.
#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(rename = "__metadata__")]
    metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    tensors: BTreeMap<String, TensorEntry>,
}

#[derive(Serialize, Deserialize)]
struct TensorEntry {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// Rewrites the header of a file written by `safetensors::serialize` with
/// sorted keys. That function (0.8) writes the metadata in `HashMap`
/// order, which changes from run to run.
fn sort_header(bytes: Vec<u8>) -> Vec<u8> {
    const LENGTH: usize = std::mem::size_of::<u64>();
    let mut length = [0u8; LENGTH];
    length.copy_from_slice(&bytes[..LENGTH]);
    let data_start = LENGTH + u64::from_le_bytes(length) as usize;
    let header: Header = serde_json::from_slice(&bytes[LENGTH..data_start])
        .expect("safetensors writes a valid header");
    let mut json =
        serde_json::to_vec(&header).expect("a header serializes to JSON");
    // Tensor data stays aligned to 8 bytes, as safetensors pads it.
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(LENGTH + json.len() + bytes.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[data_start..]);
    out
}

/// Checks that `path` is absent or a regular file, so that a rename onto
/// it can never turn a device, FIFO, folder or symbolic link into a plain
/// file.
///
/// # Errors
///
/// Fails with [`Error::Invalid`] naming the path when it exists and is
/// anything but a regular file.
pub fn check_replaceable(path: &Path) -> Result<()> {
    let text = path.as_os_str().as_encoded_bytes();
    if text.ends_with(b"/")
        || text.ends_with(std::path::MAIN_SEPARATOR_STR.as_bytes())
    {
        return Err(Error::Invalid(format!(
            "cannot write {}: the path ends with a separator, so it names \
             a folder; name a file path instead",
            path.display()
        )));
    }
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "a device, FIFO or socket"
    };
    Err(Error::Invalid(format!(
        "cannot write {}: it is {what}, and descent writes only regular \
         files; name a file path instead",
        path.display()
    )))
}

/// CRC-32 of every metadata entry but `checksum` itself, in key order,
/// then of the tensor bytes in [`TENSORS`] order, as 8 hex digits.
fn checksum<'a>(
    metadata: &HashMap<String, String>,
    tensors: impl IntoIterator<Item = &'a [u8]>,
) -> String {
    let mut hasher = crc32fast::Hasher::new();
    let mut entries: Vec<(&String, &String)> = metadata
        .iter()
        .filter(|(key, _)| key.as_str() != "checksum")
        .collect();
    entries.sort();
    for (key, value) in entries {
        hasher.update(key.as_bytes());
        hasher.update(&[0]);
        hasher.update(value.as_bytes());
        hasher.update(&[0]);
    }
    for bytes in tensors {
        hasher.update(bytes);
    }
    format!("{:08x}", hasher.finalize())
}

/// Creates a temporary file in `folder` for an output that is renamed into
/// place once complete.
///
/// Temporary files default to mode 0o600, which would leave a model
/// unreadable to other accounts. This one is created with 0o666, which
/// open(2) reduces by the umask, as for any other new file.
///
/// # Errors
///
/// Fails when the file cannot be created in `folder`.
pub fn output_tempfile(folder: &Path) -> Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".descent-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let file = builder
        .tempfile_in(folder)
        .map_err(|e| Error::io(folder, e))?;
    unfinished().push(file.path().to_path_buf());
    Ok(file)
}

/// Paths of the temporary files that [`output_tempfile`] created. A file
/// that was renamed into place or dropped is gone from its path, so
/// removing every path here deletes only unfinished outputs.
static UNFINISHED: std::sync::Mutex<Vec<std::path::PathBuf>> =
    std::sync::Mutex::new(Vec::new());

fn unfinished() -> std::sync::MutexGuard<'static, Vec<std::path::PathBuf>> {
    UNFINISHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes the temporary files of outputs still being written, for a
/// process that is about to exit on a signal and will not run the
/// destructors that would remove them.
pub fn remove_unfinished_outputs() {
    for path in unfinished().drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder
/// and a rename, so a crash never leaves a partial file at `path`.
///
/// # Errors
///
/// Fails when `path` exists and `replace` is false, or on any I/O error.
pub fn write_atomically(
    path: &Path,
    bytes: &[u8],
    replace: bool,
) -> Result<()> {
    check_replaceable(path)?;
    if !replace && path.exists() {
        return Err(Error::AlreadyExists {
            path: path.to_path_buf(),
        });
    }
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = output_tempfile(folder)?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    let result = if replace {
        file.persist(path).map(|_| ())
    } else {
        file.persist_noclobber(path).map(|_| ())
    };
    result.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            Error::io(path, e.error)
        }
    })
}

/// Saves `model` to `path` atomically (see [`write_atomically`]).
///
/// # Errors
///
/// As [`to_bytes`] and [`write_atomically`].
pub fn save(
    model: &Model,
    path: impl AsRef<Path>,
    replace: bool,
) -> Result<()> {
    write_atomically(path.as_ref(), &to_bytes(model)?, replace)
}

/// Loads a model saved by [`save`].
///
/// # Errors
///
/// Fails when the file cannot be read (see
/// [`crate::data::input::read_binary`]), and with [`Error::Model`] when it
/// is not a safetensors file, is not a descent model, has another format
/// version, is truncated, or its checksum does not match.
pub fn load(path: impl AsRef<Path>) -> Result<Model> {
    let path = path.as_ref();
    let bytes = crate::data::input::read_binary(path)?;
    from_bytes(&bytes, path)
}

/// Parses the bytes of a model file; `path` is used in messages.
///
/// # Errors
///
/// As [`load`].
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Model> {
    let fail = |reason: String| Error::model(path, reason);
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| {
        fail(format!("not a safetensors file or truncated ({e})"))
    })?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let field = |name: &str| -> Result<&str> {
        metadata
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| fail(format!("metadata has no {name:?}")))
    };
    if metadata.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(fail("a safetensors file, but not a descent model".into()));
    }
    let version = field("format_version")?;
    if version != FORMAT_VERSION {
        return Err(fail(format!(
            "format version {version}; this build of descent reads \
             version {FORMAT_VERSION}"
        )));
    }
    let tensors = SafeTensors::deserialize(bytes)
        .map_err(|e| fail(format!("damaged tensor data ({e})")))?;

    let mut data = HashMap::new();
    for (name, dtype) in TENSORS.into_iter().zip(DTYPES) {
        let view = tensors
            .tensor(name)
            .map_err(|_| fail(format!("missing tensor {name:?}")))?;
        if view.dtype() != dtype {
            return Err(fail(format!(
                "tensor {name:?} has dtype {:?}, expected {dtype:?}",
                view.dtype()
            )));
        }
        data.insert(name, view);
    }
    let computed =
        checksum(&metadata, TENSORS.iter().map(|name| data[name].data()));
    if computed != field("checksum")? {
        return Err(fail(format!(
            "checksum mismatch (stored {}, computed {computed}): the file \
             is damaged",
            field("checksum")?
        )));
    }

    let number = |name: &str| -> Result<f32> {
        field(name)?
            .parse()
            .map_err(|_| fail(format!("metadata {name:?} is not a number")))
    };
    let params: TrainParams = serde_json::from_str(field("params")?)
        .map_err(|e| fail(format!("metadata \"params\" is invalid ({e})")))?;
    params
        .validate()
        .map_err(|e| fail(format!("metadata \"params\" is invalid ({e})")))?;
    let ids = |name: &str| -> Result<IdMap> {
        let bytes = data[name].data();
        let text = std::str::from_utf8(bytes)
            .map_err(|_| fail(format!("{name} is not UTF-8")))?;
        let list: Vec<&str> = if text.is_empty() {
            Vec::new()
        } else {
            text.split('\n').collect()
        };
        for id in &list {
            if let Some(invalid) = crate::data::ids::find_invalid_char(id) {
                return Err(fail(format!(
                    "{name} holds the id \"{}\", which contains {invalid}",
                    crate::data::ids::escape_invisible(id)
                )));
            }
        }
        IdMap::from_ids(list)
            .map_err(|id| fail(format!("{name} repeats the id {id:?}")))
    };
    let model = Model {
        global_mean: number("global_mean")?,
        rating_range: (number("rating_min")?, number("rating_max")?),
        users: ids("user_ids")?,
        items: ids("item_ids")?,
        user_factors: bytemuck::pod_collect_to_vec(data["user_factors"].data()),
        item_factors: bytemuck::pod_collect_to_vec(data["item_factors"].data()),
        user_bias: bytemuck::pod_collect_to_vec(data["user_bias"].data()),
        item_bias: bytemuck::pod_collect_to_vec(data["item_bias"].data()),
        rated_indptr: bytemuck::pod_collect_to_vec::<u8, u64>(
            data["rated_indptr"].data(),
        )
        .into_iter()
        .map(|p| p as usize)
        .collect(),
        rated_items: bytemuck::pod_collect_to_vec(data["rated_items"].data()),
        params,
    };
    check_shapes(&model).map_err(&fail)?;
    check_values(&model).map_err(fail)?;
    Ok(model)
}

/// Checks that every number of a loaded model is finite and the rating
/// range is ordered, so that no prediction can be NaN or infinite.
fn check_values(model: &Model) -> std::result::Result<(), String> {
    let scalars = [
        ("global_mean", model.global_mean),
        ("rating_min", model.rating_range.0),
        ("rating_max", model.rating_range.1),
    ];
    for (name, value) in scalars {
        if !value.is_finite() {
            return Err(format!("metadata {name:?} is {value}"));
        }
    }
    if model.rating_range.0 > model.rating_range.1 {
        return Err(format!(
            "rating_min {} is above rating_max {}",
            model.rating_range.0, model.rating_range.1
        ));
    }
    let arrays = [
        ("user_factors", &model.user_factors),
        ("item_factors", &model.item_factors),
        ("user_bias", &model.user_bias),
        ("item_bias", &model.item_bias),
    ];
    for (name, values) in arrays {
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "{name} holds the value {} at index {at}",
                values[at]
            ));
        }
    }
    check_score_bound(model)
}

/// Largest score magnitude a loaded model may reach. Trained models stay
/// many orders of magnitude below it; above it, sums in `f32` could
/// overflow to infinity or NaN.
const MAX_SCORE: f64 = 1e30;

/// Checks that no prediction or cosine similarity can overflow `f32`: by
/// Cauchy-Schwarz, a dot product is at most the product of the largest
/// user and item factor norms.
fn check_score_bound(model: &Model) -> std::result::Result<(), String> {
    let k = model.params.factors.max(1);
    let largest_norm = |factors: &[f32]| -> f64 {
        factors
            .chunks(k)
            .map(|row| row.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>())
            .fold(0.0f64, f64::max)
            .sqrt()
    };
    let largest = |values: &[f32]| -> f64 {
        values
            .iter()
            .map(|&v| f64::from(v).abs())
            .fold(0.0, f64::max)
    };
    let users = largest_norm(&model.user_factors);
    let items = largest_norm(&model.item_factors);
    let bound = users * items
        + items * items
        + largest(&model.user_bias)
        + largest(&model.item_bias)
        + f64::from(model.global_mean).abs();
    if bound > MAX_SCORE {
        return Err(format!(
            "its factors are too large to score: the largest user and item \
             factor norms are {users:e} and {items:e}, and predictions \
             could overflow"
        ));
    }
    Ok(())
}

/// Checks that the arrays of a loaded model agree with each other.
fn check_shapes(model: &Model) -> std::result::Result<(), String> {
    let k = model.params.factors;
    let users = model.users.len();
    let items = model.items.len();
    let expectations = [
        ("user_factors", model.user_factors.len(), users * k),
        ("item_factors", model.item_factors.len(), items * k),
        ("user_bias", model.user_bias.len(), users),
        ("item_bias", model.item_bias.len(), items),
        ("rated_indptr", model.rated_indptr.len(), users + 1),
    ];
    for (name, found, expected) in expectations {
        if found != expected {
            return Err(format!(
                "{name} has {}, expected {expected}",
                crate::plural::count(found, "value")
            ));
        }
    }
    let pointers = &model.rated_indptr;
    let sorted = pointers.windows(2).all(|w| w[0] <= w[1]);
    if pointers[0] != 0 || !sorted || pointers[users] != model.rated_items.len()
    {
        return Err("rated_indptr is not a valid row pointer array".into());
    }
    if model.rated_items.iter().any(|&item| item as usize >= items) {
        return Err("rated_items refers to an item out of range".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::load::{parse_ratings, LoadOptions};

    fn small_model() -> Model {
        let text = "1,a,4\n1,b,2\n2,a,5\n2,c,3\n3,b,1\n3,c,4\n";
        let (ratings, _) = parse_ratings(
            text.as_bytes(),
            Path::new("r.csv"),
            &LoadOptions::default(),
        )
        .unwrap();
        let params = TrainParams {
            factors: 4,
            epochs: 3,
            threads: 1,
            ..TrainParams::default()
        };
        crate::fit(&ratings, &params).unwrap()
    }

    /// Re-serializes a model file after `edit` changes its metadata or
    /// tensors, which are given as (name, dtype, shape, bytes).
    fn rebuild(
        bytes: &[u8],
        edit: impl FnOnce(
            &mut HashMap<String, String>,
            &mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
        ),
    ) -> Vec<u8> {
        let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
        let mut metadata = header.metadata().clone().unwrap();
        let tensors = SafeTensors::deserialize(bytes).unwrap();
        let mut parts: Vec<_> = tensors
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let shape = view.shape().to_vec();
                (name, view.dtype(), shape, view.data().to_vec())
            })
            .collect();
        edit(&mut metadata, &mut parts);
        // Edits are meant to reach the checks after the checksum.
        let ordered = TENSORS.iter().filter_map(|name| {
            let part = parts.iter().find(|part| part.0 == *name)?;
            Some(part.3.as_slice())
        });
        let sum = checksum(&metadata, ordered);
        metadata.insert("checksum".into(), sum);
        let views = parts.iter().map(|(name, dtype, shape, data)| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        });
        safetensors::serialize(views, Some(metadata)).unwrap()
    }

    fn load_error(bytes: &[u8]) -> String {
        from_bytes(bytes, Path::new("m.st"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn round_trip_is_exact() {
        let model = small_model();
        let bytes = to_bytes(&model).unwrap();
        assert_eq!(from_bytes(&bytes, Path::new("m.st")).unwrap(), model);
    }

    #[test]
    fn same_model_same_bytes() {
        let model = small_model();
        let first = to_bytes(&model).unwrap();
        for _ in 0..8 {
            assert!(to_bytes(&model).unwrap() == first, "bytes differ");
        }
        let length = u64::from_le_bytes(first[..8].try_into().unwrap());
        assert_eq!(length % 8, 0, "header length {length}");
    }

    #[test]
    fn non_finite_values_rejected() {
        type Edit = fn(&mut Model);
        let edits: [(Edit, &str); 4] = [
            (
                |m| m.item_bias[1] = f32::NAN,
                "item_bias holds the value NaN",
            ),
            (|m| m.user_factors[2] = f32::INFINITY, "user_factors holds"),
            (|m| m.global_mean = f32::NAN, "\"global_mean\" is NaN"),
            (|m| m.rating_range = (5.0, 1.0), "rating_min 5 is above"),
        ];
        for (edit, expected) in edits {
            let mut model = small_model();
            edit(&mut model);
            let error = load_error(&to_bytes(&model).unwrap());
            assert!(error.starts_with("m.st: not a readable"), "{error}");
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn overflowing_factors_rejected() {
        let mut model = small_model();
        model.user_factors.iter_mut().for_each(|v| *v = 3e38);
        model.item_factors.iter_mut().for_each(|v| *v = -3e38);
        let error = load_error(&to_bytes(&model).unwrap());
        assert!(error.contains("too large to score"), "{error}");

        let mut model = small_model();
        model.user_factors.iter_mut().for_each(|v| *v = 1e3);
        let bytes = to_bytes(&model).unwrap();
        assert!(from_bytes(&bytes, Path::new("m.st")).is_ok());
    }

    #[test]
    fn folder_path_not_replaceable() {
        let error = check_replaceable(Path::new("no-such-folder/"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ends with a separator"), "{error}");
        assert!(check_replaceable(Path::new("no-such-file.dsc")).is_ok());
    }

    #[test]
    fn wrong_dtype_rejected() {
        let bytes = to_bytes(&small_model()).unwrap();
        // Same bytes, so the checksum still matches.
        let changed = rebuild(&bytes, |_, parts| {
            let part = parts.iter_mut().find(|p| p.0 == "rated_items");
            part.unwrap().1 = Dtype::F32;
        });
        let error = load_error(&changed);
        assert!(error.contains("\"rated_items\" has dtype F32"), "{error}");
    }

    #[test]
    fn control_characters_in_ids_rejected() {
        let bytes = to_bytes(&small_model()).unwrap();
        let changed = rebuild(&bytes, |_, parts| {
            let part = parts.iter_mut().find(|p| p.0 == "item_ids");
            part.unwrap().3[0] = 0x07;
        });
        let error = load_error(&changed);
        assert!(error.contains("item_ids holds the id"), "{error}");
        assert!(error.contains("U+0007"), "{error}");
    }

    #[test]
    fn invalid_params_rejected() {
        let bytes = to_bytes(&small_model()).unwrap();
        let changed = rebuild(&bytes, |metadata, _| {
            let params =
                metadata["params"].replace("\"factors\":4", "\"factors\":0");
            metadata.insert("params".into(), params);
        });
        let error = load_error(&changed);
        assert!(error.contains("invalid --factors 0"), "{error}");
    }
}
