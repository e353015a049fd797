//! Which of the two inputs of a comparison: input 0 (the left one) or input 1 (the right one).

use std::fmt;

/// Input 0 or input 1. Whatever comes in pairs (`[T; 2]`) is indexed by [`Side::i`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Input 0, the left one.
    Lhs,
    /// Input 1, the right one.
    Rhs,
}

impl Side {
    /// Both sides, input 0 first.
    pub const BOTH: [Side; 2] = [Side::Lhs, Side::Rhs];

    /// The position of this side in a pair: 0 for input 0, 1 for input 1.
    pub fn i(self) -> usize {
        match self {
            Side::Lhs => 0,
            Side::Rhs => 1,
        }
    }

    /// The input's number, 0 or 1, as stored in reports.
    pub fn index(self) -> u8 {
        match self {
            Side::Lhs => 0,
            Side::Rhs => 1,
        }
    }

    /// The side of input `index` (0 or 1), as numbered in `Findings::inputs`.
    pub fn from_index(index: usize) -> Option<Side> {
        match index {
            0 => Some(Side::Lhs),
            1 => Some(Side::Rhs),
            _ => None,
        }
    }

    /// The other input.
    pub fn other(self) -> Side {
        match self {
            Side::Lhs => Side::Rhs,
            Side::Rhs => Side::Lhs,
        }
    }
}

/// `input 0` or `input 1`, as messages name the inputs.
impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input {}", self.i())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names() {
        assert_eq!(Side::BOTH.map(Side::i), [0, 1]);
        assert_eq!(Side::BOTH.map(Side::index), [0, 1]);
        assert_eq!(Side::BOTH.map(Side::other), [Side::Rhs, Side::Lhs]);
        assert_eq!(Side::from_index(1), Some(Side::Rhs));
        assert_eq!(Side::from_index(2), None);
        assert_eq!(Side::Lhs.to_string(), "input 0");
        assert_eq!(Side::Rhs.to_string(), "input 1");
    }
}
