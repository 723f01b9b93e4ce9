//! Opens and reads input files: ratings, items, id lists and models.
//!
//! A regular file is read as it is. A pipe is read once, as a stream: a
//! named pipe (FIFO), `/dev/stdin` when it is a pipe, or the `/dev/fd/N`
//! of a shell process substitution such as `<(zcat ratings.csv.gz)`. The
//! path `-` reads standard input as a stream, whatever it is connected to
//! other than a terminal.
//! Opening a named pipe waits until a process opens it for writing, and a
//! warning names the pipe when that takes longer than
//! [`PIPE_WAIT_NOTICE`].
//! Directories, character and block devices and sockets are rejected,
//! because reading them fails, or never ends as with `/dev/zero`.
//!
//! Text inputs have lines of at most [`MAX_LINE_BYTES`], so that input
//! without line ends is rejected at that length instead of being read
//! until memory runs out. A stream is read into memory, and reading stops
//! with an error once it takes half of the memory that was available when
//! reading started.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use crate::error::{Error, Result};

/// Maximum length of a line of a text input, in bytes, without its line
/// end. Rating rows and item lines are far shorter, so a longer line means
/// that the file is not a text file of this kind.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// How long opening a named pipe may wait for a writer before a warning
/// names the pipe.
pub const PIPE_WAIT_NOTICE: Duration = Duration::from_secs(1);

/// An input file, opened for reading.
#[derive(Debug)]
pub enum Input {
    /// A regular file, whose size is known and which can be read again.
    File(File),
    /// A pipe, read once from start to end.
    Stream(File),
}

/// Opens `path` for reading after checking its type (see the module
/// documentation).
///
/// # Errors
///
/// Fails when the file does not exist or cannot be opened, and when it is
/// a directory, a device or a socket.
pub fn open(path: &Path) -> Result<Input> {
    if path == Path::new(STDIN) {
        return open_stdin();
    }
    let metadata = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let kind = metadata.file_type();
    if kind.is_file() {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        return Ok(Input::File(file));
    }
    if kind.is_dir() {
        return Err(not_readable(path, "a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return open_pipe(path).map(Input::Stream);
        }
        if kind.is_char_device() {
            return Err(not_readable(path, "a character device"));
        }
        if kind.is_block_device() {
            return Err(not_readable(path, "a block device"));
        }
        if kind.is_socket() {
            return Err(not_readable(path, "a socket"));
        }
    }
    Err(not_readable(path, "neither a regular file nor a pipe"))
}

/// The path that names standard input.
pub const STDIN: &str = "-";

/// Opens standard input as a stream, unless it is a terminal, from which
/// a whole ratings file is not going to be typed.
#[cfg(unix)]
fn open_stdin() -> Result<Input> {
    use std::io::IsTerminal;
    use std::os::fd::AsFd;

    use std::os::unix::fs::FileTypeExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Set once standard input is opened: it can be read only once.
    static TAKEN: AtomicBool = AtomicBool::new(false);

    let stdin = io::stdin();
    if stdin.is_terminal() {
        return Err(Error::Invalid(
            "- (standard input) is a terminal; pipe or redirect a file into \
             it, as in `< ratings.csv`"
                .into(),
        ));
    }
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(Error::Invalid(
            "- (standard input) is given for two inputs, but it can be read \
             only once; name a file for the other"
                .into(),
        ));
    }
    let fd = stdin
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::io("- (standard input)", e))?;
    let file = File::from(fd);
    let kind = file
        .metadata()
        .map_err(|e| Error::io("- (standard input)", e))?
        .file_type();
    if kind.is_char_device() || kind.is_block_device() {
        return Err(Error::Invalid(
            "- (standard input) is a device, such as /dev/null or /dev/zero; \
             redirect a file or pipe into it"
                .into(),
        ));
    }
    Ok(Input::Stream(file))
}

#[cfg(not(unix))]
fn open_stdin() -> Result<Input> {
    Err(Error::Invalid(
        "- (standard input) is read only on Unix systems; name a file".into(),
    ))
}

fn not_readable(path: &Path, kind: &str) -> Error {
    Error::Invalid(format!(
        "{}: is {kind}; expected a regular file or a pipe",
        path.display()
    ))
}

/// Opens a named pipe, which blocks until a process opens it for writing,
/// and logs a warning if that takes longer than [`PIPE_WAIT_NOTICE`].
fn open_pipe(path: &Path) -> Result<File> {
    let (sender, receiver) = mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::spawn(move || {
        // The receiver is kept until this message arrives, so sending
        // cannot fail.
        let _ = sender.send(File::open(owned));
    });
    let opened = match receiver.recv_timeout(PIPE_WAIT_NOTICE) {
        Ok(opened) => opened,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            tracing::warn!(
                "{}: waiting for a process to open this named pipe for \
                 writing; press Ctrl-C to stop",
                path.display()
            );
            receiver.recv().expect("the opening thread sends a result")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            unreachable!("the opening thread sends before it ends")
        }
    };
    opened.map_err(|e| Error::io(path, e))
}

/// Reads the text input at `path` whole (see [`open`]).
///
/// # Errors
///
/// As [`open`], when reading fails, when a line is longer than
/// [`MAX_LINE_BYTES`] (naming the line), and when a stream takes half of
/// the available memory.
pub fn read_text(path: &Path) -> Result<Vec<u8>> {
    let input = open(path)?;
    read_text_from(input, path)
}

/// Reads an opened text input whole, as [`read_text`] does.
pub(crate) fn read_text_from(input: Input, path: &Path) -> Result<Vec<u8>> {
    let limit = stream_limit(&input);
    let mut lines = LineLengths::default();
    read_all(input, path, limit, |bytes| {
        lines.check(bytes).map_err(|line| long_line(path, line))
    })
}

/// Reads the binary input at `path`, a model file, whole (see [`open`]).
///
/// # Errors
///
/// As [`open`], when reading fails and when a stream takes half of the
/// available memory.
pub fn read_binary(path: &Path) -> Result<Vec<u8>> {
    let input = open(path)?;
    let limit = stream_limit(&input);
    read_all(input, path, limit, |_| Ok(()))
}

/// Builds the error for a line longer than [`MAX_LINE_BYTES`].
pub(crate) fn long_line(path: &Path, line: u64) -> Error {
    Error::Row {
        path: path.to_path_buf(),
        line,
        message: format!(
            "the line is longer than {} MiB, the limit for a line of a text \
             input; check that this is the intended file and that it has \
             line ends",
            MAX_LINE_BYTES >> 20
        ),
    }
}

/// Bytes a stream may take: half of the memory available now, or no limit
/// where that is unknown. A regular file has no limit.
fn stream_limit(input: &Input) -> Option<u64> {
    match input {
        Input::File(_) => None,
        Input::Stream(_) => {
            crate::eval::parallel::available_memory().map(|bytes| bytes / 2)
        }
    }
}

/// Reads `input` to its end, calling `check` with the bytes read so far
/// after each read, and fails once more than `limit` bytes were read.
fn read_all(
    input: Input,
    path: &Path,
    limit: Option<u64>,
    mut check: impl FnMut(&[u8]) -> Result<()>,
) -> Result<Vec<u8>> {
    let (mut file, mut bytes) = match input {
        Input::File(file) => {
            let size = file.metadata().map_or(0, |m| m.len());
            let mut bytes = Vec::new();
            // As `std::fs::read` does, a file too large for memory is an
            // error rather than an abort.
            usize::try_from(size)
                .ok()
                .and_then(|size| bytes.try_reserve_exact(size).ok())
                .ok_or_else(|| {
                    Error::io(path, io::Error::from(io::ErrorKind::OutOfMemory))
                })?;
            (file, bytes)
        }
        Input::Stream(file) => (file, Vec::new()),
    };
    let mut block = vec![0u8; 1 << 16];
    loop {
        let read = match file.read(&mut block) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                continue
            }
            Err(error) => return Err(Error::io(path, error)),
        };
        bytes.extend_from_slice(&block[..read]);
        check(&bytes)?;
        if let Some(limit) = limit {
            if bytes.len() as u64 > limit {
                return Err(Error::Invalid(format!(
                    "{}: stopped reading this stream after {} MiB, half of \
                     the memory that was available; save it to a file and \
                     pass that instead",
                    path.display(),
                    bytes.len() >> 20
                )));
            }
        }
    }
    Ok(bytes)
}

/// Checks the line lengths of a text that grows at its end. Lines end at
/// LF, CR LF or a lone CR, as the readers of this crate count them, and a
/// byte order mark at the start is not part of line 1.
#[derive(Debug, Default)]
pub(crate) struct LineLengths {
    /// Bytes of the text already checked.
    checked: usize,
    /// Line that the next byte belongs to, counted from 0.
    line: u64,
    /// Start of that line in the text.
    line_start: usize,
}

impl LineLengths {
    /// Checks the part of `text` added since the last call, which is the
    /// whole text with what came before unchanged. Returns the number,
    /// from 1, of the first line longer than [`MAX_LINE_BYTES`].
    pub(crate) fn check(
        &mut self,
        text: &[u8],
    ) -> std::result::Result<(), u64> {
        if self.checked == 0 {
            // A byte order mark that is still incomplete is checked with
            // the next part.
            if text.len() < 3 && b"\xEF\xBB\xBF".starts_with(text) {
                return Ok(());
            }
            if text.starts_with(b"\xEF\xBB\xBF") {
                self.checked = 3;
                self.line_start = 3;
            }
        }
        let mut at = self.checked;
        // A CR at the end of the part before is a line end whose LF, if it
        // has one, starts this part.
        if at > 0 && text[at - 1] == b'\r' && text.get(at) == Some(&b'\n') {
            at += 1;
            self.line_start = at;
        }
        while let Some(offset) = memchr::memchr2(b'\n', b'\r', &text[at..]) {
            let end = at + offset;
            if end - self.line_start > MAX_LINE_BYTES {
                return Err(self.line + 1);
            }
            self.line += 1;
            at = end + 1;
            if text[end] == b'\r' && text.get(at) == Some(&b'\n') {
                at += 1;
            }
            self.line_start = at;
        }
        self.checked = text.len();
        if text.len() - self.line_start > MAX_LINE_BYTES {
            return Err(self.line + 1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(length: usize) -> Vec<u8> {
        vec![b'x'; length]
    }

    fn first_long_line(text: &[u8]) -> Option<u64> {
        LineLengths::default().check(text).err()
    }

    #[test]
    fn line_lengths_at_the_limit() {
        let mut text = b"1,2,3\n".to_vec();
        text.extend(long(MAX_LINE_BYTES));
        text.extend(b"\r\n4,5,6\n");
        assert_eq!(first_long_line(&text), None);
        let mut text = b"1,2,3\r\r\n".to_vec();
        text.extend(long(MAX_LINE_BYTES + 1));
        assert_eq!(first_long_line(&text), Some(3));
        let mut text = b"\xEF\xBB\xBF".to_vec();
        text.extend(long(MAX_LINE_BYTES));
        assert_eq!(first_long_line(&text), None, "the mark is not counted");
    }

    #[test]
    fn line_lengths_checked_in_parts() {
        let mut text = b"\xEF\xBB\xBFa\r".to_vec();
        text.extend(b"\nb\rc\n");
        text.extend(long(MAX_LINE_BYTES + 1));
        for cut in 0..12 {
            let mut lines = LineLengths::default();
            assert_eq!(lines.check(&text[..cut]), Ok(()), "cut {cut}");
            assert_eq!(lines.check(&text), Err(4), "cut {cut}");
        }
    }

    #[test]
    fn directory_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_text(dir.path()).unwrap_err().to_string();
        assert!(error.contains("is a directory"), "{error}");
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn character_device_rejected() {
        let error = read_text(Path::new("/dev/zero")).unwrap_err().to_string();
        assert_eq!(
            error,
            "/dev/zero: is a character device; expected a regular file or a \
             pipe"
        );
    }
}
