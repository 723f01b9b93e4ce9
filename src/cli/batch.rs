//! `descent recommend --all` and `--users FILE`: the top-N lists of many
//! users, as CSV or JSON lines, to standard output or a file.

use std::io::BufWriter;

use serde::Serialize;

use super::query::{read_id_lines, RecommendCommand};
use super::values::whole;
use super::*;

use descent::model::Scored;
use descent::serve::batch::BatchScorer;
use descent::serve::{ColdStart, ItemFilter, RankedList, Recommender};

/// Output layout of a batch.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BatchFormat {
    /// One row per listed item, `user,rank,item,score`, then `title` with
    /// --items and `kind` with --cold-start, with a header line.
    Csv,
    /// One JSON object per user and line.
    Jsonl,
}

/// Output options of `recommend --all` and `--users`.
#[derive(Args, Debug)]
pub(super) struct BatchOutputArgs {
    /// Output layout of --all and --users.
    #[arg(long, value_enum, default_value = "csv", requires = "batch")]
    output_format: BatchFormat,
    /// The former name of --output-format, accepted with a warning.
    /// Elsewhere --format is the separator of an input ratings file.
    #[arg(
        long,
        value_enum,
        hide = true,
        requires = "batch",
        conflicts_with = "output_format"
    )]
    format: Option<BatchFormat>,
    /// Write the lists of --all or --users to FILE, through a temporary
    /// file in the same folder and a rename, instead of standard output;
    /// `-` is standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace the --out file if it exists.
    #[arg(long, requires = "out")]
    force: bool,
    /// Print no progress bar or summary.
    #[arg(long, short)]
    quiet: bool,
    /// Worker threads of --all and --users, 0 to 1024; 0 uses one per
    /// core.
    #[arg(
        long,
        default_value_t = 0,
        requires = "batch",
        value_parser = whole(0, MAX_THREADS as u64)
    )]
    threads: usize,
}

impl BatchOutputArgs {
    /// Returns whether --out was given.
    pub(super) fn has_out(&self) -> bool {
        self.out.is_some()
    }

    /// Returns the --out file, or `None` for standard output.
    pub(super) fn out_file(&self) -> Option<&Path> {
        self.out.as_deref().filter(|path| *path != Path::new("-"))
    }

    /// Returns the layout of --output-format, or of the former --format
    /// with a warning.
    fn layout(&self) -> BatchFormat {
        match self.format {
            Some(layout) => {
                eprintln!(
                    "warning: recommend --format is now --output-format; \
                     the old name will be removed"
                );
                layout
            }
            None => self.output_format,
        }
    }
}

/// The destination of the rendered lists: standard output, or a
/// temporary file that is renamed into place at the end.
enum Sink {
    Stdout(BufWriter<std::io::Stdout>),
    File {
        writer: BufWriter<tempfile::NamedTempFile>,
        path: PathBuf,
        replace: bool,
    },
}

impl Sink {
    fn open(output: &BatchOutputArgs) -> Result<Sink> {
        let Some(path) = output.out_file() else {
            return Ok(Sink::Stdout(BufWriter::new(std::io::stdout())));
        };
        check_output_folder(path)?;
        if !output.force && path.exists() {
            return Err(Error::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let file = persist::output_tempfile(folder)?;
        Ok(Sink::File {
            writer: BufWriter::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            replace: output.force,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            Sink::Stdout(writer) => writer
                .write_all(bytes)
                .map_err(|e| Error::io("standard output", e)),
            Sink::File { writer, path, .. } => {
                writer.write_all(bytes).map_err(|e| Error::io(&*path, e))
            }
        }
    }

    /// Flushes, and for a file syncs it and renames it into place.
    fn finish(self) -> Result<()> {
        match self {
            Sink::Stdout(mut writer) => {
                writer.flush().map_err(|e| Error::io("standard output", e))
            }
            Sink::File {
                writer,
                path,
                replace,
            } => {
                let file = writer
                    .into_inner()
                    .map_err(|e| Error::io(&path, e.into_error()))?;
                file.as_file().sync_all().map_err(|e| Error::io(&path, e))?;
                let persisted = if replace {
                    file.persist(&path).map(|_| ())
                } else {
                    file.persist_noclobber(&path).map(|_| ())
                };
                persisted.map_err(|e| {
                    if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                        Error::AlreadyExists { path: path.clone() }
                    } else {
                        Error::io(&path, e.error)
                    }
                })
            }
        }
    }
}

/// The users of a batch: a model index for each known user, `None` for
/// an unknown one, and each id as given.
struct BatchUsers {
    indices: Vec<Option<u32>>,
    ids: Vec<String>,
}

/// Header names that a users file may start with.
const USER_HEADERS: [&str; 5] = ["user", "userid", "user_id", "users", "id"];

fn read_users(
    path: &Path,
    recommender: &Recommender,
    cold_start: bool,
) -> Result<BatchUsers> {
    let model = recommender.model();
    let mut lines = read_id_lines(path)?;
    if let Some((_, first)) = lines.first() {
        let lower = first.to_ascii_lowercase();
        if model.users.get(first).is_none()
            && USER_HEADERS.contains(&lower.as_str())
        {
            lines.remove(0);
        }
    }
    if lines.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no user ids found; expected one id per line",
            path.display()
        )));
    }

    let mut seen = rustc_hash::FxHashSet::default();
    let mut users = BatchUsers {
        indices: Vec::with_capacity(lines.len()),
        ids: Vec::with_capacity(lines.len()),
    };
    let mut repeats = 0;
    let mut unknown: Vec<(u64, String)> = Vec::new();
    for (line, id) in lines {
        if !seen.insert(id.clone()) {
            repeats += 1;
            continue;
        }
        let index = model.users.get(&id);
        if index.is_none() {
            unknown.push((line, id.clone()));
        }
        users.indices.push(index);
        users.ids.push(id);
    }

    if repeats > 0 {
        eprintln!(
            "warning: {}: {} {} listed once",
            path.display(),
            count(repeats, "repeated user id"),
            form(repeats, "was", "were")
        );
    }
    if let (Some((line, id)), false) = (unknown.first(), cold_start) {
        let more = match unknown.len() {
            1 => String::new(),
            unknown => format!(
                " ({} {})",
                count(unknown - 1, "more unknown user"),
                form(unknown - 1, "follows", "follow")
            ),
        };
        return Err(Error::Row {
            path: path.to_path_buf(),
            line: *line,
            message: format!(
                "unknown user {id}: the model has no ratings from this \
                 user{more}; pass --cold-start popular or bias to list \
                 them anyway"
            ),
        });
    }
    Ok(users)
}

/// One user's line of JSON lines output.
#[derive(Serialize)]
struct UserLine<'a> {
    user: &'a str,
    kind: &'static str,
    recommendations: Vec<ItemEntry<'a>>,
}

#[derive(Serialize)]
struct ItemEntry<'a> {
    rank: usize,
    item: &'a str,
    score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
}

/// Renders blocks of lists in the chosen layout.
struct Renderer<'a> {
    recommender: &'a Recommender,
    users: &'a BatchUsers,
    cold: Option<&'a RankedList>,
    format: BatchFormat,
    titles: bool,
}

impl Renderer<'_> {
    fn header(&self) -> Vec<u8> {
        if self.format == BatchFormat::Jsonl {
            return Vec::new();
        }
        let mut header = String::from("user,rank,item,score");
        if self.titles {
            header.push_str(",title");
        }
        if self.cold.is_some() {
            header.push_str(",kind");
        }
        header.push('\n');
        header.into_bytes()
    }

    /// Renders the lists of the users from position `offset` on.
    fn render(
        &self,
        offset: usize,
        lists: Vec<Option<Vec<Scored>>>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(lists.len() * 256);
        for (position, list) in lists.iter().enumerate() {
            let user = &self.users.ids[offset + position];
            let (kind, items) = match list {
                Some(items) => ("personalized", items.as_slice()),
                None => {
                    let cold =
                        self.cold.expect("unknown users need a cold list");
                    (cold.kind.name(), cold.items.as_slice())
                }
            };
            match self.format {
                BatchFormat::Csv => self.csv_rows(&mut out, user, kind, items),
                BatchFormat::Jsonl => {
                    self.json_line(&mut out, user, kind, items)
                }
            }
        }
        out
    }

    fn csv_rows(
        &self,
        out: &mut Vec<u8>,
        user: &str,
        kind: &str,
        items: &[Scored],
    ) {
        let model = self.recommender.model();
        let mut writer = csv::WriterBuilder::new().from_writer(out);
        for (rank, scored) in items.iter().enumerate() {
            let rank = (rank + 1).to_string();
            let score = scored.score.to_string();
            let mut record: Vec<&str> =
                vec![user, &rank, model.items.id(scored.item), &score];
            if self.titles {
                record.push(self.recommender.title(scored.item).unwrap_or(""));
            }
            if self.cold.is_some() {
                record.push(kind);
            }
            writer
                .write_record(&record)
                .expect("writing CSV to memory cannot fail");
        }
        writer.flush().expect("writing CSV to memory cannot fail");
    }

    fn json_line(
        &self,
        out: &mut Vec<u8>,
        user: &str,
        kind: &'static str,
        items: &[Scored],
    ) {
        let model = self.recommender.model();
        let line = UserLine {
            user,
            kind,
            recommendations: items
                .iter()
                .enumerate()
                .map(|(rank, scored)| ItemEntry {
                    rank: rank + 1,
                    item: model.items.id(scored.item),
                    score: scored.score,
                    title: self
                        .titles
                        .then(|| self.recommender.title(scored.item))
                        .flatten(),
                })
                .collect(),
        };
        serde_json::to_writer(&mut *out, &line)
            .expect("writing JSON to memory cannot fail");
        out.push(b'\n');
    }
}

fn progress_bar(users: usize, quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(
        Some(users as u64),
        ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} users  ({elapsed}, {eta} left)",
        )
        .expect("progress template is valid"),
    );
    Some(bar)
}

/// Writes the lists of `--all` or `--users` users.
pub(super) fn run(
    command: &RecommendCommand,
    recommender: &Recommender,
    filter: &ItemFilter,
) -> Result<()> {
    let started = Instant::now();
    let output = &command.output;
    let model = recommender.model();
    let cold_start = command.cold_start.map(ColdStart::from);
    let users = match &command.users {
        Some(path) => read_users(path, recommender, cold_start.is_some())?,
        None => BatchUsers {
            indices: (0..model.users.len() as u32).map(Some).collect(),
            ids: model.users.ids().map(str::to_string).collect(),
        },
    };
    let cold = cold_start
        .map(|kind| recommender.cold_start(kind, command.n, filter, &[]));
    let renderer = Renderer {
        recommender,
        users: &users,
        cold: cold.as_ref(),
        format: output.layout(),
        titles: recommender.catalog().is_some(),
    };
    let mut sink = Sink::open(output)?;
    sink.write(&renderer.header())?;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(output.threads)
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start threads: {e}")))?;
    let scorer = BatchScorer::new(model, command.n, filter);
    let bar = progress_bar(users.indices.len(), output.quiet);
    let result = pool.install(|| {
        scorer.stream(
            &users.indices,
            |offset, lists| renderer.render(offset, lists),
            |bytes, done| {
                if let Some(bar) = &bar {
                    bar.set_position(done as u64);
                }
                sink.write(&bytes)
            },
        )
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result?;
    sink.finish()?;

    if let (Some(path), false) = (output.out_file(), output.quiet) {
        let cold_users = users.indices.iter().filter(|u| u.is_none()).count();
        eprintln!(
            "wrote the top {} of {} ({cold_users} cold-start) to {} in {:.2} s",
            command.n,
            count(users.indices.len(), "user"),
            path.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
