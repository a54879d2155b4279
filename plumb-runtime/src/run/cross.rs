//! Pipelines whose stages run on different machines: split into runs of stages on one
//! machine, joined by pipes through this process.

use std::sync::Arc;

use crate::error::Error;
use crate::machine::Machine;
use crate::model::expr::{Expr, Inner, Node, Opts};
use crate::model::job::{Job, Outcome, Process, Stdio};
use crate::Result;

/// Stages that run on one machine, in order.
type Segment = (Arc<dyn Machine>, Vec<(Expr, bool)>);

/// Splits a pipeline whose stages are bound to different machines into runs of stages on
/// one machine; `None` when the whole tree runs on `machine`.
pub(crate) fn segments(
    expr: &Expr,
    machine: &Arc<dyn Machine>,
) -> Option<Vec<(Arc<dyn Machine>, Expr)>> {
    let Node::Pipe(stages) = expr.node() else {
        return None;
    };
    let bound = |e: &Expr| e.opts().machine.clone().unwrap_or_else(|| machine.clone());
    if stages
        .iter()
        .all(|(e, _)| bound(e).identity() == machine.identity())
    {
        return None;
    }
    let mut out: Vec<Segment> = Vec::new();
    for (stage, all) in stages {
        let m = bound(stage);
        match out.last_mut() {
            Some((last, run)) if last.identity() == m.identity() => run.push((stage.clone(), *all)),
            _ => out.push((m, vec![(stage.clone(), *all)])),
        }
    }
    let outer = expr.opts();
    let segments = out.into_iter().enumerate().map(|(i, (m, run))| {
        // Each segment keeps the pipeline's directory, environment and terminal (which the
        // local machine refuses, never ignores); stdin goes first.
        let opts = Opts {
            dir: outer.dir.clone(),
            env: outer.env.clone(),
            stdin: if i == 0 { outer.stdin.clone() } else { None },
            pty: outer.pty,
            ..Opts::default()
        };
        let seg = match run.as_slice() {
            [(stage, false)] => with_opts(stage, &opts),
            _ => Expr(Arc::new(Inner {
                node: Node::Pipe(run),
                opts,
            })),
        };
        (m, seg)
    });
    Some(segments.collect())
}

/// `expr` with the context options of an enclosing node around it.
fn with_opts(expr: &Expr, outer: &Opts) -> Expr {
    if outer.dir.is_none() && outer.env.is_empty() && outer.stdin.is_none() && outer.pty.is_none() {
        return expr.clone();
    }
    Expr(Arc::new(Inner {
        node: Node::Pipe(vec![(expr.clone(), false)]),
        opts: outer.clone(),
    }))
}

/// The segments of a cross-machine pipeline, joined by pipes through this process.
pub(crate) struct Group {
    expr: Expr,
    parts: Vec<(String, Box<dyn Process>)>,
}

impl Group {
    pub(crate) fn start(
        expr: &Expr,
        segments: Vec<(Arc<dyn Machine>, Expr)>,
        [stdin, stdout, stderr]: [Stdio; 3],
        tree: super::Tree,
    ) -> Result<Group> {
        let stderr = if expr.opts().stderr_to_stdout {
            stdout
                .try_clone()
                .map_err(|e| Error::io("local", "cannot duplicate stdout", e))?
        } else {
            stderr
        };
        let n = segments.len();
        let mut parts: Vec<(String, Box<dyn Process>)> = Vec::with_capacity(n);
        let mut next_stdin = Some(stdin);
        let mut last_stdout = Some(stdout);
        for (i, (machine, seg)) in segments.into_iter().enumerate() {
            let pipe_err = |e| Error::io(machine.name(), "cannot create a pipe", e);
            let (seg_stdout, following) = if i + 1 == n {
                (last_stdout.take().unwrap_or(Stdio::Null), None)
            } else {
                let (r, w) = os_pipe::pipe().map_err(pipe_err)?;
                (Stdio::Fd(w.into()), Some(Stdio::Fd(r.into())))
            };
            let job = Job {
                expr: seg,
                stdin: next_stdin.take().unwrap_or(Stdio::Null),
                stdout: seg_stdout,
                stderr: stderr.try_clone().map_err(pipe_err)?,
                kill_tree: tree.kill,
                guarded: tree.guarded,
                awaited: tree.awaited,
                // Each segment feeds the next as it runs.
                streamed: true,
            };
            match machine.start(job) {
                Ok(p) => parts.push((machine.name().to_string(), p)),
                Err(e) => {
                    for (_, p) in &parts {
                        let _ = p.kill();
                        let _ = p.wait();
                    }
                    return Err(e);
                }
            }
            next_stdin = following;
        }
        Ok(Group {
            expr: expr.clone(),
            parts,
        })
    }
}

impl Process for Group {
    fn wait(&self) -> Result<Outcome> {
        let mut outcomes = Vec::with_capacity(self.parts.len());
        let mut first_err = None;
        for (name, p) in &self.parts {
            match p.wait() {
                Ok(o) => outcomes.push(Outcome {
                    machine: Some(o.machine.unwrap_or_else(|| name.clone())),
                    ..o
                }),
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok(Outcome::pipeline(outcomes, self.expr.opts()))
    }

    fn try_wait(&self) -> Result<Option<Outcome>> {
        for (_, p) in &self.parts {
            if p.try_wait()?.is_none() {
                return Ok(None);
            }
        }
        self.wait().map(Some)
    }

    fn kill(&self) -> Result<()> {
        for (_, p) in &self.parts {
            p.kill()?;
        }
        Ok(())
    }

    /// Only when every part's machine wakes it.
    fn wake_on_exit(&self, waker: &std::task::Waker) -> bool {
        self.parts.iter().all(|(_, p)| p.wake_on_exit(waker))
    }
}
