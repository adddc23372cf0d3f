//! Locking without poisoning.
//!
//! A panic inside dbuild is caught where it happens (an action's failure, a Starlark
//! evaluation's error), and every mutex here guards data that stays consistent across such a
//! panic: caches filled with finished values, logs, queues. Refusing the lock afterwards would
//! turn one reported failure into a second, confusing one, so the data is taken as it is.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, ignoring poisoning (see the module docs for why that is sound here).
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_still_yields_its_data() {
        let m = Mutex::new(vec![1]);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut g = m.lock().unwrap();
            g.push(2);
            panic!("while holding the lock");
        }));
        assert!(r.is_err() && m.is_poisoned());
        lock(&m).push(3);
        assert_eq!(*lock(&m), vec![1, 2, 3]);
    }
}
