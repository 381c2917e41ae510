//! Operations selected now and completed later ([`SelectedOperation`]): a send whose
//! value comes after the selection holds a *reservation*, and a selected receive whose
//! message is never taken puts it back.
//!
//! A send is selected when it could complete at that instant (under the channel's
//! lock), and what made it possible is held for it until the value comes:
//! - a waiting receiver: popped from `recvq` and held `BUSY` (waiter.rs's
//!   [`Reserved`]); it stays parked until the value is put in its slot;
//! - room in the buffer: counted in `State::reserved`, which every send counts as
//!   taken (invariant 2 in mod.rs);
//! - a closed channel (or one with no receivers): the send will fail.
//!
//! Giving a reservation up (the `SelectedOperation` dropped uncompleted, also while
//! unwinding) never blocks or loses anything: a held receiver wakes and starts its
//! operation over (`RETRY`), as if it had never been chosen; held room is given back
//! and refilled from the longest-waiting sender, as a receive does. Forgetting one
//! (`mem::forget`) keeps the receiver parked, or the room taken, for good.
//!
//! A completed send whose room was held fails if the channel was closed meanwhile (a
//! send on a closed channel fails, as in Go); one that holds a receiver delivers to it
//! (the receiver was promised the message before the close).
//!
//! [`SelectedOperation`]: super::SelectedOperation

use super::waiter::Reserved;
use super::{Chan, Locked, SendError, State, Wake, wake_observer};

/// What a selected send holds until its value is given; given back on drop.
pub(crate) struct Reservation<'a, T> {
    held: Option<Held<'a, T>>,
}

enum Held<'a, T> {
    Closed,
    Room(&'a Chan<T>),
    Receiver(Reserved<T>),
}

impl<T> Chan<T> {
    /// Reserves a send if one could complete now. The caller holds the lock (`state`).
    pub(super) fn reserve_send_locked<'a>(
        &'a self,
        state: &mut State<T>,
        wake: &mut Wake,
    ) -> Option<Reservation<'a, T>> {
        let held = if state.closed || state.no_receivers {
            Held::Closed
        } else if let Some(reserved) = Chan::reserve_receiver(state, wake) {
            Held::Receiver(reserved)
        } else if self
            .cap
            .is_none_or(|cap| state.buf.len() + state.reserved < cap)
        {
            state.reserved += 1;
            Held::Room(self)
        } else {
            return None;
        };
        Some(Reservation { held: Some(held) })
    }

    /// Holds the longest-waiting live receiver (waking observers on the way).
    fn reserve_receiver(state: &mut State<T>, wake: &mut Wake) -> Option<Reserved<T>> {
        while let Some(entry) = state.recvq.pop_front() {
            if entry.observes() {
                wake_observer(entry, wake);
                continue;
            }
            if let Ok(reserved) = entry.reserve() {
                return Some(reserved);
            }
        }
        None
    }

    /// A selected receive's message that was never taken: back to the front of the
    /// channel (to a waiting receiver, or the buffer, over its capacity if it must:
    /// nothing is lost), or dropped if every receiver is gone.
    pub(super) fn unreceive(&self, value: T) {
        let dropped = {
            let mut locked = self.lock();
            let Locked { state, wake } = &mut locked;
            if state.no_receivers {
                Some(value)
            } else {
                if let Some(value) = Chan::hand_to_receiver(state, wake, value) {
                    state.buf.push_front(value);
                }
                None
            }
        };
        // After unlocking: a destructor is user code.
        drop(dropped);
    }
}

impl<T> Reservation<'_, T> {
    /// Sends `value` through the reservation.
    pub(super) fn complete(mut self, value: T) -> Result<(), SendError<T>> {
        match self.held.take().expect("a reservation completes once") {
            Held::Closed => Err(SendError(value)),
            Held::Receiver(reserved) => {
                reserved.complete(value);
                Ok(())
            }
            Held::Room(chan) => {
                let mut locked = chan.lock();
                let Locked { state, wake } = &mut locked;
                state.reserved -= 1;
                match Chan::try_send_locked(state, wake, chan.cap, value) {
                    Ok(Ok(())) => Ok(()),
                    // Closed since: the send fails, as any send on a closed channel.
                    Ok(Err(value)) => Err(SendError(value)),
                    // The room is ours, but a given-back receive overfilled the buffer.
                    Err(value) => {
                        state.buf.push_back(value);
                        Ok(())
                    }
                }
            }
        }
    }
}

impl<T> Drop for Reservation<'_, T> {
    /// Gives the reservation up (see the module doc).
    fn drop(&mut self) {
        match self.held.take() {
            None | Some(Held::Closed) => {}
            // Dropping it wakes the receiver to start over.
            Some(Held::Receiver(reserved)) => drop(reserved),
            Some(Held::Room(chan)) => {
                let mut locked = chan.lock();
                let Locked { state, wake } = &mut locked;
                state.reserved -= 1;
                // Room again: the longest-waiting sender's value moves in (to a waiting
                // receiver, or the buffer), and observers hear of it.
                while let Some(entry) = state.sendq.pop_front() {
                    if entry.observes() {
                        wake_observer(entry, wake);
                        continue;
                    }
                    if let Ok((value, unparker)) = entry.claim(|slot| slot.take()) {
                        wake.later(unparker);
                        let value = value.expect("a waiting sender's slot is full");
                        match Chan::try_send_locked(state, wake, chan.cap, value) {
                            Ok(Ok(())) => {}
                            // Full (a given-back receive overfilled the buffer): it
                            // still goes in. (Closed: not reached, as a closed channel
                            // has no waiting sender.)
                            Ok(Err(value)) | Err(value) => state.buf.push_back(value),
                        }
                        break;
                    }
                }
            }
        }
    }
}
