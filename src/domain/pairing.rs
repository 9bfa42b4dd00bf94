//! Which head findings are base findings still there, and which are new: findings pair when
//! they are copies of each other (same backend, rule and normalised source line, in the same
//! file or the file it was renamed from), and among copies the diff decides which is which.
//!
//! Without the diff, identical copies are told apart by their order in the file alone, so a
//! line inserted above copies it repeats makes the *last* copy look new. With it, a head line
//! the change kept pairs with itself in the base, and only copies on lines the change added are
//! left over as new.

use super::diffmap::DiffMap;
use super::finding::Finding;
use std::collections::{HashMap, HashSet};

/// The result of pairing: for each head finding whether it is new, and the base findings the
/// head no longer has (indices into the base).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairing {
    pub new: Vec<bool>,
    pub fixed: Vec<usize>,
}

pub fn pair(head: &[Finding], base: &[Finding], diff: Option<&DiffMap>) -> Pairing {
    match diff {
        // Findings saved before line keys existed can only pair by fingerprint.
        Some(diff) if base.iter().chain(head).all(|f| !f.line_key.is_empty()) => {
            pair_along(head, base, diff)
        }
        _ => by_fingerprint(head, base),
    }
}

fn by_fingerprint(head: &[Finding], base: &[Finding]) -> Pairing {
    let before: HashSet<&str> = base.iter().map(|f| f.fingerprint.as_str()).collect();
    let after: HashSet<&str> = head.iter().map(|f| f.fingerprint.as_str()).collect();
    Pairing {
        new: head
            .iter()
            .map(|f| !before.contains(f.fingerprint.as_str()))
            .collect(),
        fixed: (0..base.len())
            .filter(|i| !after.contains(base[*i].fingerprint.as_str()))
            .collect(),
    }
}

type GroupKey<'a> = (&'a str, &'a str, &'a str, &'a str);

fn pair_along(head: &[Finding], base: &[Finding], diff: &DiffMap) -> Pairing {
    // Copies in the base, by (path, backend, rule, line key), in line order.
    let mut groups: HashMap<GroupKey<'_>, Vec<usize>> = HashMap::new();
    for (i, f) in base.iter().enumerate() {
        groups
            .entry((&f.path, &f.backend, &f.rule, &f.line_key))
            .or_default()
            .push(i);
    }
    for members in groups.values_mut() {
        members.sort_by_key(|i| base[*i].start_line);
    }
    let mut taken = vec![false; base.len()];
    let mut paired = vec![false; head.len()];
    let mut order: Vec<usize> = (0..head.len()).collect();
    order.sort_by_key(|i| (&head[*i].path, head[*i].start_line));
    let group_of = |i: usize| -> Option<&Vec<usize>> {
        let h = &head[i];
        let base_path = diff.base_path(&h.path)?;
        groups.get(&(
            base_path,
            h.backend.as_str(),
            h.rule.as_str(),
            h.line_key.as_str(),
        ))
    };
    let kept_line = |i: usize| {
        diff.base_location(&head[i].path, head[i].start_line)
            .map(|(_, l)| l)
    };

    // 1. A line the change kept pairs with the copy on the same base line.
    for &i in &order {
        let (Some(group), Some(line)) = (group_of(i), kept_line(i)) else {
            continue;
        };
        if let Some(&b) = group
            .iter()
            .find(|b| !taken[**b] && base[**b].start_line == line)
        {
            (taken[b], paired[i]) = (true, true);
        }
    }
    // 2. Other findings on kept lines (a tool that moved its report a line) take the nearest
    //    copy left.
    for &i in &order {
        let (false, Some(group), Some(line)) = (paired[i], group_of(i), kept_line(i)) else {
            continue;
        };
        if let Some(&b) = group
            .iter()
            .filter(|b| !taken[**b])
            .min_by_key(|b| base[**b].start_line.abs_diff(line))
        {
            (taken[b], paired[i]) = (true, true);
        }
    }
    // 3. Findings on added lines take copies whose lines the change removed (moved or
    //    re-indented code); what is left over is new.
    for &i in &order {
        let (false, Some(group)) = (paired[i], group_of(i)) else {
            continue;
        };
        if let Some(&b) = group.iter().find(|b| !taken[**b]) {
            (taken[b], paired[i]) = (true, true);
        }
    }
    Pairing {
        new: paired.iter().map(|p| !p).collect(),
        fixed: (0..base.len()).filter(|b| !taken[*b]).collect(),
    }
}

#[cfg(test)]
mod tests;
