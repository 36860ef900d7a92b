import NIOConcurrencyHelpers
import NIOCore

/// Something a ``LoopTicker`` wakes at a deadline. Called on the ticker's event loop.
public protocol Ticking: AnyObject {
    /// The ticker's bookkeeping (which of the client's wake-ups is current); only ``LoopTicker`` sets it, start it at 0.
    var tickerGeneration: UInt64 { get set }
    /// The deadline set with ``LoopTicker/wake(_:at:)`` has passed; `now` is the loop's clock (uptime, ns).
    func tick(now: UInt64)
}

/// One timer per event loop for the many calls on it: a hashed timing wheel of 1 ms slots, turned by one
/// scheduled callback at the earliest deadline waiting.
///
/// Why not one NIO scheduled task per call: every 20 ms frame of every call then costs a scheduled task (a
/// heap of closures, retained and released as it is reordered), usually a cancellation (the pacer's next
/// deadline moves), and its own wake-up of the loop; at hundreds of calls per loop those wake-ups and the heap
/// were a tenth of the gateway's and the fake carrier's time, and each wake-up is a chance to be scheduled
/// late. Here a loop wakes once per millisecond at most and runs every call that is due, in deadline slots; with
/// few calls it sleeps from one deadline to the next instead of turning every millisecond (a wheel that turned
/// while anything waited cost one call 3 % of a core in wake-ups alone).
///
/// A client is woken no earlier than its deadline and, while the loop keeps up, within one slot (1 ms) of it.
/// Each client has at most one pending wake-up: a new ``wake(_:at:)`` replaces the previous one, and
/// ``cancel(_:)`` drops it. Use from the ticker's event loop only.
public final class LoopTicker: NIOScheduledCallbackHandler, @unchecked Sendable {
    public let eventLoop: any EventLoop
    /// Slot width in nanoseconds.
    public static let slotNs: UInt64 = 1_000_000
    private static let slots = 128

    private struct Entry {
        var deadline: UInt64
        var generation: UInt64
        /// Held until the entry is taken off the wheel (at most one revolution after a cancellation).
        var client: any Ticking
    }

    private var wheel: [[Entry]]
    private var scratch: [Entry] = []
    /// Stamped on each wake-up and on its client: an entry whose stamp is no longer its client's is stale
    /// (replaced or cancelled).
    private var nextGeneration: UInt64 = 1
    /// The last slot number (deadline / slotNs) whose entries have been run.
    private var done: UInt64
    private var pending = 0
    /// The loop's callback to the next turn: the ticker itself is its handler, so scheduling one allocates nothing
    /// (a scheduled task cost a promise, its future and a closure, a loop's most frequent allocations at one call).
    private var task: NIOScheduledCallback?
    /// When `task` runs (uptime ns; `.max` without one), and the lateness it counts from.
    private var taskTime: UInt64 = .max
    private var taskDue: UInt64 = 0
    /// Set while `turn` runs its clients: their wake-ups are scheduled once, when it ends.
    private var turning = false
    /// Turns of the wheel so far (each one wake-up of the loop), for tests and diagnostics.
    public private(set) var turns = 0
    /// Turns 5 ms late (the loop behind) and 10 ms late (overloaded), each counted in its own window.
    private var behind = LateTurns(thresholdNs: LoopTicker.behindLatenessNs, holdNs: LoopTicker.behindHoldNs)
    private var overloaded = LateTurns(thresholdNs: LoopTicker.overloadLatenessNs, holdNs: LoopTicker.overloadHoldNs)

    /// A turn this late (ns) means the loop has more to do than it keeps up with: its reads, writes and other
    /// tasks ran first. 5 ms is a quarter of a caller frame, where the pacer's lead (100 ms) is still far.
    public static let behindLatenessNs: UInt64 = 5_000_000
    /// Late turns within ``behindWindowNs`` that make the loop behind: one is a hiccup (the process descheduled
    /// once, as a busy machine does to a single call), several in a second are a loop that does not keep up.
    public static let behindTurns = 4
    /// The window the late turns are counted in (ns): a fresh one starts at the first late turn after it ends.
    public static let behindWindowNs: UInt64 = 1_000_000_000
    /// How long the loop counts as behind after it was found so (ns): long enough that a loop at its limit does
    /// not switch back and forth at every turn.
    public static let behindHoldNs: UInt64 = 2_000_000_000

    /// A turn this late (ns) is half the lateness a caller's frames are held to (20 ms at p99): several in a second
    /// mean the loop has more calls than the machine gives it time for, and its frames are about to leave late
    /// enough to hear. (At 20 ms the refusals came after the frames were already late: 500 calls in replies at
    /// every phase kept 383 with p99 <= 20 ms at 10, and 365 with p99 <= 50 ms at 20, both with a 2 s hold.)
    public static let overloadLatenessNs: UInt64 = 10_000_000
    /// How long the loop counts as overloaded after it was found so (ns): longer than being behind, since what
    /// overloads a loop comes seconds after the calls that bring it were taken (a call's first reply, after the
    /// caller's first turn). 500 calls in replies at every phase: with 2 s the calls kept had frames 50 ms late at
    /// p99, with 5 s 20 ms.
    public static let overloadHoldNs: UInt64 = 5_000_000_000

    /// Whether the loop ran ``behindTurns`` turns late (by ``behindLatenessNs`` or more) within a window of
    /// ``behindWindowNs``, or two or more whose lateness adds up to 2 x ``behindTurns`` x ``behindLatenessNs`` (a
    /// loop that turns only a few times a second, each far late), the last of them less than ``behindHoldNs`` ago:
    /// the gateway then gathers the caller's audio into longer appends, so a loaded loop does less per call.
    public func isBehind(now: UInt64) -> Bool { behind.isSet(now: now) }

    /// Whether the loop ran ``behindTurns`` turns ``overloadLatenessNs`` late or more within a window of
    /// ``behindWindowNs`` (or two or more adding up to twice as many), the last of them less than
    /// ``overloadHoldNs`` ago: a gateway that refuses calls when overloaded takes no new one on this loop.
    public func isOverloaded(now: UInt64) -> Bool { overloaded.isSet(now: now) }

    /// Late turns counted in a window: ``LoopTicker/behindTurns`` of them at least `thresholdNs` late within
    /// ``LoopTicker/behindWindowNs``, or two whose lateness adds up to twice as many thresholds, set the state for
    /// `holdNs`. The second rule is for a loop so far behind that it turns only a few times a second (each
    /// iteration hundreds of milliseconds of reads): counting turns alone, the most overloaded loop was never
    /// found behind, and stopped gathering appends just when it needed it most.
    private struct LateTurns {
        let thresholdNs: UInt64
        let holdNs: UInt64
        var count = 0
        /// The lateness of the window's late turns, added up (ns).
        var lateness: UInt64 = 0
        var windowStart: UInt64 = 0
        var until: UInt64 = 0

        /// A turn due at `due` ran at `now`.
        mutating func record(due: UInt64, now: UInt64) {
            guard now >= due + thresholdNs else { return }
            if now - windowStart > LoopTicker.behindWindowNs {
                windowStart = now
                count = 0
                lateness = 0
            }
            count += 1
            lateness += now - due
            if count >= LoopTicker.behindTurns || (count >= 2 && lateness >= 2 * UInt64(LoopTicker.behindTurns) * thresholdNs) {
                until = now + holdNs
            }
        }

        func isSet(now: UInt64) -> Bool { now < until }
    }

    private init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        wheel = Array(repeating: [], count: Self.slots)
        done = NIODeadline.now().uptimeNanoseconds / Self.slotNs
    }

    private static let tickers = NIOLockedValueBox<[ObjectIdentifier: LoopTicker]>([:])

    /// The ticker of `eventLoop` (made on first use; it lives as long as the process).
    public static func of(_ eventLoop: any EventLoop) -> LoopTicker {
        tickers.withLockedValue { all in
            let key = ObjectIdentifier(eventLoop as AnyObject)
            if let ticker = all[key] { return ticker }
            let ticker = LoopTicker(eventLoop: eventLoop)
            all[key] = ticker
            return ticker
        }
    }

    /// Wakes `client` once `deadline` (uptime ns) has passed, replacing any wake-up it had pending.
    public func wake(_ client: any Ticking, at deadline: UInt64) {
        eventLoop.preconditionInEventLoop()
        // Idle since the last turn: the wheel is empty, so it may start from the present slot.
        if pending == 0 { done = NIODeadline.now().uptimeNanoseconds / Self.slotNs }
        let generation = nextGeneration
        nextGeneration += 1
        client.tickerGeneration = generation
        // A deadline in a slot already run goes in the next one to run.
        let slot = max(deadline / Self.slotNs, done + 1)
        wheel[Int(slot % UInt64(Self.slots))].append(Entry(deadline: deadline, generation: generation, client: client))
        pending += 1
        if !turning, deadline < taskTime { schedule(at: deadline) }
    }

    /// Runs the next turn at `time` (or at once if it has passed), instead of the one scheduled.
    private func schedule(at time: UInt64) {
        task?.cancel()
        taskTime = time
        // A deadline already past is due now: its lateness is the client's, not the loop's.
        taskDue = max(time, NIODeadline.now().uptimeNanoseconds)
        // Fails only on a loop shutting down, which runs nothing more anyway.
        task = try? eventLoop.scheduleCallback(at: .uptimeNanoseconds(time), handler: self)
    }

    /// The loop's callback at the time of the next turn (the ticker is its own handler): runs the turn.
    public func handleScheduledCallback(eventLoop: some EventLoop) {
        task = nil
        taskTime = .max
        turn(due: taskDue)
    }

    /// The earliest deadline of this revolution in the first slot after `done` that holds one (a stale or a later
    /// revolution's entry may wake the wheel early, never late); one revolution on if no slot does.
    private func nextDeadline() -> UInt64 {
        let slots = UInt64(Self.slots)
        for slot in (done + 1)...(done + slots) {
            let end = (slot + 1) * Self.slotNs
            var earliest = UInt64.max
            for entry in wheel[Int(slot % slots)] where entry.deadline < end { earliest = min(earliest, entry.deadline) }
            if earliest != .max { return earliest }
        }
        return (done + slots) * Self.slotNs
    }

    /// Drops `client`'s pending wake-up, if any.
    public func cancel(_ client: any Ticking) {
        eventLoop.preconditionInEventLoop()
        client.tickerGeneration = 0
    }

    /// Runs every slot up to now; the turn was due at `due`.
    private func turn(due: UInt64) {
        turning = true
        defer { turning = false }
        turns += 1
        let now = NIODeadline.now().uptimeNanoseconds
        behind.record(due: due, now: now)
        overloaded.record(due: due, now: now)
        let last = now / Self.slotNs
        let slots = UInt64(Self.slots)
        // Behind by more than a revolution (the loop was blocked): one revolution visits every entry.
        var slot = last - done > slots ? last - slots + 1 : done + 1
        while slot <= last {
            // Wake-ups set by the clients run below land in a later slot (at least this one's successor).
            done = slot
            let index = Int(slot % slots)
            if !wheel[index].isEmpty {
                swap(&scratch, &wheel[index])
                for entry in scratch {
                    guard entry.client.tickerGeneration == entry.generation else {
                        pending -= 1
                        continue
                    }
                    if entry.deadline > now {
                        // A later revolution's entry stays; one due later in the present slot runs next turn.
                        let later = entry.deadline / Self.slotNs > last
                        wheel[later ? index : Int((last + 1) % slots)].append(entry)
                        continue
                    }
                    pending -= 1
                    entry.client.tickerGeneration = 0
                    entry.client.tick(now: now)
                }
                scratch.removeAll(keepingCapacity: true)
            }
            slot += 1
        }
        done = max(done, last)
        if pending == 0 {
            task?.cancel()
            task = nil
            taskTime = .max
        } else {
            // Not sooner than the next slot: a deadline later in this one was moved there above.
            let next = max(nextDeadline(), (last + 1) * Self.slotNs)
            if next < taskTime { schedule(at: next) }
        }
    }
}
