//! Timed market events (halts and resumes, scripted or random), kept in time order.

use std::{cmp::Reverse, collections::BinaryHeap, time::Duration};

use crate::config::{Halts, RandomHalts};
use crate::universe::Universe;

/// What happens at a scheduled time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Action {
    Halt(usize),
    Resume(usize),
    /// Pick a random symbol to halt, and schedule the next random halt.
    RandomHalt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    /// Virtual nanoseconds after `start_ns`.
    at_ns: u64,
    /// Insertion order: equal times fire first-in, first-out.
    order: u64,
    action: Action,
}

/// A min-heap of [`Action`]s by time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schedule {
    heap: BinaryHeap<Reverse<Entry>>,
    order: u64,
    /// Random-halt parameters, in virtual seconds.
    random: Option<RandomHalts>,
}

/// Nanoseconds in a duration, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Schedule {
    /// Schedules every scripted halt (symbols must be in `universe`; unknown ones were
    /// rejected by `Config::validate`). The first random halt is added by the caller,
    /// which owns the generator.
    pub(crate) fn new(halts: &Halts, universe: &Universe) -> Self {
        let mut s = Self {
            random: halts.random,
            ..Self::default()
        };
        for halt in &halts.scripted {
            if let Some(i) = universe.index_of(&halt.symbol) {
                let at = nanos(halt.at);
                s.push(at, Action::Halt(i));
                s.push(at.saturating_add(nanos(halt.duration)), Action::Resume(i));
            }
        }
        s
    }

    pub(crate) fn random(&self) -> Option<RandomHalts> {
        self.random
    }

    pub(crate) fn push(&mut self, at_ns: u64, action: Action) {
        self.order += 1;
        self.heap.push(Reverse(Entry {
            at_ns,
            order: self.order,
            action,
        }));
    }

    /// The time of the next action, or `u64::MAX` when none is left.
    #[inline]
    pub(crate) fn next_at(&self) -> u64 {
        self.peek_at().unwrap_or(u64::MAX)
    }

    /// The time of the next action, if any.
    pub(crate) fn peek_at(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(e)| e.at_ns)
    }

    pub(crate) fn pop(&mut self) -> Option<(u64, Action)> {
        self.heap.pop().map(|Reverse(e)| (e.at_ns, e.action))
    }
}
