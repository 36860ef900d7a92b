import Foundation
import GatewayNet
import NIOCore
import NIOPosix
import Testing

/// A client that records when it was woken, and may ask again from inside its tick.
private final class Recorder: Ticking, @unchecked Sendable {
    var tickerGeneration: UInt64 = 0
    var deadline: UInt64 = 0
    var woken: [(deadline: UInt64, at: UInt64)] = []
    var again: ((Recorder, UInt64) -> Void)?
    func tick(now: UInt64) {
        woken.append((deadline, now))
        again?(self, now)
    }
}

/// One of `loop`'s timer turns made late: `client` asks to be woken 1 ms ahead (`prepare` sees the deadline first),
/// and the same task then holds the loop `microseconds`, so the turn cannot run in between (as it could if another
/// task held the loop); returns once the turn has run.
func lateTurn(_ loop: any EventLoop, _ ticker: LoopTicker, _ client: some Ticking & Sendable, holdingFor microseconds: UInt32,
              prepare: @escaping @Sendable (UInt64) -> Void = { _ in }) async throws {
    try await loop.submit {
        let deadline = NIODeadline.now().uptimeNanoseconds + 1_000_000
        prepare(deadline)
        ticker.wake(client, at: deadline)
        usleep(microseconds)
    }.get()
    try await Task.sleep(for: .milliseconds(5))
}

/// An event loop of its own (so only the test's turns are late on it), its ticker and a recording client.
private func lateTestLoop() async throws -> (MultiThreadedEventLoopGroup, any EventLoop, LoopTicker, Recorder) {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loop = group.next()
    return (group, loop, try await loop.submit { LoopTicker.of(loop) }.get(), Recorder())
}

@Suite("One timer per event loop")
struct TickerTests {
    @Test("a loop blocked past its wake-ups, again and again, counts as behind for the hold that follows; one hiccup does not")
    func behind() async throws {
        let (group, loop, ticker, client) = try await lateTestLoop()
        /// A turn held 30 ms (a loop with more to do than it keeps up with); true when it came `behindLatenessNs` late.
        func blockedTurn() async throws -> Bool {
            try await lateTurn(loop, ticker, client, holdingFor: 30_000) { client.deadline = $0 }
            return try await loop.submit {
                let w = client.woken.last!
                return w.at - w.deadline >= LoopTicker.behindLatenessNs
            }.get()
        }
        // One late turn is a hiccup.
        #expect(try await blockedTurn())
        #expect(try await loop.submit { !ticker.isBehind(now: NIODeadline.now().uptimeNanoseconds) }.get())
        // Several within the window: behind, for the hold.
        for _ in 1..<LoopTicker.behindTurns { #expect(try await blockedTurn()) }
        try await loop.submit {
            let now = NIODeadline.now().uptimeNanoseconds
            #expect(client.woken.count == LoopTicker.behindTurns)
            #expect(ticker.isBehind(now: now))
            #expect(!ticker.isBehind(now: now + LoopTicker.behindHoldNs))
            // 30 ms late is overloaded too, for a longer hold.
            #expect(ticker.isOverloaded(now: now))
            #expect(ticker.isOverloaded(now: now + LoopTicker.behindHoldNs))
            #expect(!ticker.isOverloaded(now: now + LoopTicker.overloadHoldNs))
        }.get()
        try await group.shutdownGracefully()
    }

    @Test("a loop so far behind that it turns a few times a second: two turns far late make it behind and overloaded; one is a hiccup")
    func farBehind() async throws {
        let (group, loop, ticker, client) = try await lateTestLoop()
        // Each turn 100 ms late: what a loop spending 100 ms on its reads between two turns does.
        try await lateTurn(loop, ticker, client, holdingFor: 101_000) { client.deadline = $0 }
        try await loop.submit {
            let now = NIODeadline.now().uptimeNanoseconds
            #expect(!ticker.isBehind(now: now) && !ticker.isOverloaded(now: now))
        }.get()
        try await lateTurn(loop, ticker, client, holdingFor: 101_000) { client.deadline = $0 }
        try await loop.submit {
            let now = NIODeadline.now().uptimeNanoseconds
            #expect(client.woken.count == 2)
            // Two turns within the window whose lateness adds up to 2 x behindTurns thresholds (40 and 80 ms).
            let sum = client.woken.map { $0.at - $0.deadline }.reduce(0, +)
            #expect(sum >= 2 * UInt64(LoopTicker.behindTurns) * LoopTicker.overloadLatenessNs)
            #expect(ticker.isBehind(now: now) && ticker.isOverloaded(now: now))
        }.get()
        try await group.shutdownGracefully()
    }

    @Test("turns a few ms late: the loop is behind, and overloaded only if enough of them came 10 ms late or more")
    func behindNotOverloaded() async throws {
        let (group, loop, ticker, client) = try await lateTestLoop()
        for _ in 0..<LoopTicker.behindTurns {
            try await lateTurn(loop, ticker, client, holdingFor: 7_000) { client.deadline = $0 }
        }
        try await loop.submit {
            let now = NIODeadline.now().uptimeNanoseconds
            // A busy machine may hold the loop longer than asked: what counts is how late each turn was.
            let lateness = client.woken.map { $0.at - $0.deadline }
            #expect(lateness.count == LoopTicker.behindTurns)
            /// Either rule: `behindTurns` turns `threshold` late, or two or more adding up to twice as many thresholds.
            func lateEnough(_ threshold: UInt64) -> Bool {
                let late = lateness.filter { $0 >= threshold }
                return late.count >= LoopTicker.behindTurns || (late.count >= 2 && late.reduce(0, +) >= 2 * UInt64(LoopTicker.behindTurns) * threshold)
            }
            #expect(ticker.isBehind(now: now) == lateEnough(LoopTicker.behindLatenessNs))
            #expect(ticker.isOverloaded(now: now) == lateEnough(LoopTicker.overloadLatenessNs))
        }.get()
        try await group.shutdownGracefully()
    }

    @Test("many clients, repeating, replaced and cancelled: each wake-up on time, once, never early; cancelled never")
    func wheel() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let clients = (0..<300).map { _ in Recorder() }
        let cancelled = Recorder(), replaced = Recorder()
        try await loop.submit {
            let ticker = LoopTicker.of(loop)
            #expect(LoopTicker.of(loop) === ticker)
            let start = NIODeadline.now().uptimeNanoseconds
            for (i, c) in clients.enumerated() {
                // Every 20 ms from a spread of phases, ten times; a few deadlines already past; some beyond a revolution.
                c.deadline = i % 50 == 0 ? start - 5_000_000 : start + UInt64(i % 37) * 700_000 + (i % 3 == 0 ? 150_000_000 : 0)
                c.again = { me, _ in
                    if me.woken.count < 10 {
                        me.deadline += 20_000_000
                        ticker.wake(me, at: me.deadline)
                    }
                }
                ticker.wake(c, at: c.deadline)
            }
            cancelled.deadline = start + 10_000_000
            ticker.wake(cancelled, at: cancelled.deadline)
            ticker.cancel(cancelled)
            replaced.deadline = start + 30_000_000
            ticker.wake(replaced, at: start + 5_000_000)
            ticker.wake(replaced, at: replaced.deadline)
        }.get()
        try await Task.sleep(for: .milliseconds(600))
        try await loop.submit {
            for c in clients {
                #expect(c.woken.count == 10)
                // Never early; late by less than a revolution of the wheel (128 ms), which a slot the wheel skipped
                // would cost, with room for a busy machine running the call tests beside this one.
                for w in c.woken { #expect(w.at >= w.deadline && w.at - w.deadline < 100_000_000, "woken \(w.at - w.deadline) ns after") }
            }
            #expect(cancelled.woken.isEmpty)
            #expect(replaced.woken.count == 1 && replaced.woken[0].at >= replaced.deadline)
        }.get()
        try await group.shutdownGracefully()
    }

    /// A wheel that turned every millisecond while anything waited woke the loop 1,000 times a second for one call;
    /// it now sleeps from one deadline to the next.
    @Test("one client every 20 ms: the loop wakes about once per deadline, on time")
    func sleepsBetweenDeadlines() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let client = Recorder()
        let turnsBefore = try await loop.submit {
            let ticker = LoopTicker.of(loop)
            let before = ticker.turns
            client.deadline = NIODeadline.now().uptimeNanoseconds + 20_000_000
            client.again = { me, _ in
                if me.woken.count < 15 {
                    me.deadline += 20_000_000
                    ticker.wake(me, at: me.deadline)
                }
            }
            ticker.wake(client, at: client.deadline)
            return before
        }.get()
        try await Task.sleep(for: .milliseconds(450))
        try await loop.submit {
            let turns = LoopTicker.of(loop).turns - turnsBefore
            #expect(client.woken.count == 15)
            // One turn per deadline, a second one at most when a deadline falls late in its slot.
            #expect(turns <= 2 * 15, "\(turns) turns for 15 deadlines")
            for w in client.woken { #expect(w.at >= w.deadline && w.at - w.deadline < 50_000_000, "woken \(w.at - w.deadline) ns after") }
        }.get()
        try await group.shutdownGracefully()
    }
}
