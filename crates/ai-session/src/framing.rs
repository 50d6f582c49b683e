//! Newline-delimited framing with a hard size limit, so a peer cannot make us buffer without bound.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One unit read from the peer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its `\n` (and without a trailing `\r`).
    Line(Vec<u8>),
    /// A line longer than the limit began; its rest is skipped before the next frame.
    TooLong,
}

/// Reads `\n`-terminated lines of at most `max` bytes.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
    /// Set after [`Frame::TooLong`]: bytes up to the next newline are dropped.
    discarding: bool,
    /// The partial line so far; kept here (not on the stack) so a cancelled `next_frame` loses
    /// nothing and the reader can sit in a `select!`.
    line: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Wraps a buffered reader.
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            discarding: false,
            line: Vec::new(),
        }
    }

    /// The next frame, or `None` at end of stream. A final line without a newline is returned
    /// as a line (a truncated request then fails to parse and gets an error).
    ///
    /// Cancel safe: dropping the future before it completes loses no input.
    pub async fn next_frame(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                self.discarding = false;
                let line = std::mem::take(&mut self.line);
                return Ok((!line.is_empty()).then(|| Frame::Line(trim_cr(line))));
            }
            let newline = memchr::memchr(b'\n', buf);
            let chunk_len = newline.unwrap_or(buf.len());
            if self.discarding {
                let consumed = newline.map_or(buf.len(), |i| i + 1);
                self.inner.consume(consumed);
                if newline.is_some() {
                    self.discarding = false;
                }
                continue;
            }
            if self.line.len() + chunk_len > self.max {
                let consumed = newline.map_or(buf.len(), |i| i + 1);
                self.inner.consume(consumed);
                self.discarding = newline.is_none();
                self.line = Vec::new();
                return Ok(Some(Frame::TooLong));
            }
            self.line.extend_from_slice(&buf[..chunk_len]);
            match newline {
                Some(i) => {
                    self.inner.consume(i + 1);
                    let line = std::mem::take(&mut self.line);
                    return Ok(Some(Frame::Line(trim_cr(line))));
                }
                None => {
                    let n = buf.len();
                    self.inner.consume(n);
                }
            }
        }
    }
}

fn trim_cr(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn frames(input: &[u8], max: usize, buf: usize) -> Vec<Frame> {
        let mut r = LineReader::new(BufReader::with_capacity(buf, input), max);
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().await.unwrap() {
            out.push(f);
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_an_unterminated_tail() {
        for buf in [1, 3, 64] {
            assert_eq!(
                frames(b"ab\r\ncd\n\nef", 10, buf).await,
                vec![
                    Frame::Line(b"ab".to_vec()),
                    Frame::Line(b"cd".to_vec()),
                    Frame::Line(vec![]),
                    Frame::Line(b"ef".to_vec())
                ]
            );
        }
    }

    #[tokio::test]
    async fn oversized_lines_are_reported_once_and_skipped() {
        for buf in [1, 4, 64] {
            let input = b"0123456789abc\nok\n0123456789abcdef";
            assert_eq!(
                frames(input, 8, buf).await,
                vec![Frame::TooLong, Frame::Line(b"ok".to_vec()), Frame::TooLong],
                "buf {buf}"
            );
        }
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_is_accepted() {
        assert_eq!(
            frames(b"12345678\n", 8, 3).await,
            vec![Frame::Line(b"12345678".to_vec())]
        );
    }
}
