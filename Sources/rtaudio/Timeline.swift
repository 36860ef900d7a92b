import Foundation
import RealtimeAudio

/// What `rtaudio vad --plot` draws: per-frame envelope, level, floor and score, and the turns as bands.
struct Timeline {
    struct Point {
        var peak: Double
        var level: Double
        var floor: Double
        var score: Double
        var inTurn: Bool
    }

    /// The plotted points, `msPerPoint` apart. The plot's resolution is fixed: past `2 × maximumPoints` points,
    /// neighbours merge in pairs (peaks and levels keep their maximum, the floor its minimum), so memory stays
    /// bounded whatever the audio's length (a 3.5 h file kept 266 MB of frames before).
    private(set) var frames: [Point] = []
    private(set) var msPerPoint = 10
    static let maximumPoints = 2400
    /// Frames merged into the point being built, and how many.
    private var building: Point?
    private var built = 0

    /// Adds one 10 ms frame.
    mutating func add(frame: Point) {
        building = building.map { Self.merge($0, frame) } ?? frame
        built += 1
        guard built == msPerPoint / 10, let point = building else { return }
        frames.append(point)
        building = nil
        built = 0
        if frames.count == 2 * Self.maximumPoints {
            frames = stride(from: 0, to: frames.count, by: 2).map { Self.merge(frames[$0], frames[$0 + 1]) }
            msPerPoint *= 2
        }
    }

    private static func merge(_ a: Point, _ b: Point) -> Point {
        Point(peak: max(a.peak, b.peak), level: max(a.level, b.level), floor: min(a.floor, b.floor),
              score: max(a.score, b.score), inTurn: a.inTurn || b.inTurn)
    }
    /// Turns as (audio_start_ms, audio_end_ms); an open turn has end nil until its stop.
    var turns: [(start: Int, end: Int?)] = []
    var durationMs = 0
    var startDB = 9.0

    mutating func add(_ event: TurnEvent) {
        switch event {
        case .speechStarted(let start, _): turns.append((start, nil))
        case .speechStopped(let end, _):
            if let last = turns.indices.last, turns[last].end == nil { turns[last].end = end }
        }
    }

    /// An SVG a person can read: the waveform envelope on top; below it the speech-band level, the noise floor and
    /// the level a frame needs to start a turn (floor + threshold score), in dBFS; turns (from audio_start_ms to
    /// audio_end_ms) as shaded bands over both; a time axis in seconds.
    func svg(title: String) -> String {
        let width = 1200.0, left = 60.0, right = 20.0, top = 30.0
        let envHeight = 140.0, gap = 30.0, dbHeight = 260.0, axis = 40.0
        let height = top + envHeight + gap + dbHeight + axis
        let plotWidth = width - left - right
        let seconds = max(Double(durationMs) / 1000, 0.01)
        func x(_ ms: Double) -> Double { left + plotWidth * min(max(ms / 1000 / seconds, 0), 1) }
        let dbTop = top + envHeight + gap
        let dbMin = -100.0, dbMax = 0.0
        func y(_ db: Double) -> Double { dbTop + dbHeight * (dbMax - min(max(db, dbMin), dbMax)) / (dbMax - dbMin) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left))" y="18" font-size="14">\(escape(title)): server VAD, \(turns.count) turn(s)</text>

            """
        // Turns.
        for turn in turns {
            let a = x(Double(turn.start)), b = x(Double(turn.end ?? durationMs))
            s += "<rect x=\"\(f(a))\" y=\"\(f(top))\" width=\"\(f(max(b - a, 1)))\" height=\"\(f(envHeight + gap + dbHeight))\" fill=\"#ffd54f\" fill-opacity=\"0.35\"/>\n"
        }
        // Envelope: per-frame peak, mirrored.
        let mid = top + envHeight / 2
        if !frames.isEmpty {
            var path = "M"
            for (i, p) in frames.enumerated() { path += " \(f(x(Double(i * msPerPoint)))),\(f(mid - envHeight / 2 * min(p.peak, 1)))" }
            for (i, p) in frames.enumerated().reversed() { path += " \(f(x(Double(i * msPerPoint)))),\(f(mid + envHeight / 2 * min(p.peak, 1)))" }
            s += "<path d=\"\(path) Z\" fill=\"#546e7a\"/>\n"
        }
        s += "<text x=\"4\" y=\"\(f(mid))\">wave</text>\n"
        // dB grid.
        for db in stride(from: dbMin, through: dbMax, by: 20) {
            s += "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(y(db)))\" y2=\"\(f(y(db)))\" stroke=\"#ddd\"/>"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(y(db) + 4))\" text-anchor=\"end\">\(Int(db))</text>\n"
        }
        s += "<text x=\"4\" y=\"\(f(dbTop - 8))\">dBFS</text>\n"
        func polyline(_ value: (Point) -> Double, _ colour: String, dash: Bool = false) -> String {
            let points = frames.enumerated().map { "\(f(x(Double($0.offset * msPerPoint) + Double(msPerPoint) / 2))),\(f(y(value($0.element))))" }
            return "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.2\"\(dash ? " stroke-dasharray=\"5,3\"" : "")/>\n"
        }
        s += polyline({ $0.level }, "#1565c0")
        s += polyline({ $0.floor }, "#2e7d32")
        s += polyline({ $0.floor + startDB }, "#c62828", dash: true)
        // Time axis.
        let axisY = dbTop + dbHeight
        s += "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(axisY))\" y2=\"\(f(axisY))\" stroke=\"black\"/>\n"
        let step = seconds > 60 ? 10.0 : seconds > 20 ? 2.0 : seconds > 5 ? 1.0 : 0.5
        for t in stride(from: 0.0, through: seconds, by: step) {
            s += "<line x1=\"\(f(x(t * 1000)))\" x2=\"\(f(x(t * 1000)))\" y1=\"\(f(axisY))\" y2=\"\(f(axisY + 5))\" stroke=\"black\"/>"
            s += "<text x=\"\(f(x(t * 1000)))\" y=\"\(f(axisY + 18))\" text-anchor=\"middle\">\(step < 1 ? String(format: "%.1f", t) : String(Int(t)))</text>\n"
        }
        s += "<text x=\"\(f(width - right))\" y=\"\(f(axisY + 34))\" text-anchor=\"end\">time (s)</text>\n"
        // Legend.
        let legend: [(String, String)] = [("#1565c0", "speech-band level"), ("#2e7d32", "noise floor"),
                                          ("#c62828", "start level (floor + threshold score, approx.)"),
                                          ("#ffd54f", "turn: audio_start_ms to audio_end_ms")]
        var lx = left + 300
        for (colour, label) in legend {
            s += "<rect x=\"\(f(lx))\" y=\"8\" width=\"12\" height=\"12\" fill=\"\(colour)\"/><text x=\"\(f(lx + 16))\" y=\"18\">\(label)</text>\n"
            lx += 16 + Double(label.count) * 6.5 + 20
        }
        s += "</svg>\n"
        return s
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
