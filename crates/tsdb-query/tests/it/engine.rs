//! Engine-level behaviour: limits, cache, planner, errors.
