/// One JSON object on one line, written member by member: the one encoder of the library's events (turn events,
/// pipeline events, `rtaudio`'s JSON lines) and the one spelling of JSON strings and numbers
/// (`RealtimeSession`'s documents use ``quote(_:)`` and ``number(_:)``).
///
/// ```swift
/// var line = JSONLine(type: "input_audio_buffer.speech_started")
/// line.add("audio_start_ms", 1200)
/// line.text   // {"type":"input_audio_buffer.speech_started","audio_start_ms":1200}
/// ```
/// Members appear in the order added; keys are written as given (quoted and escaped). It allocates as a `String`
/// grows: for event lines and logs, not for a per-sample path. A value type, safe to use from any thread.
public struct JSONLine: Sendable, CustomStringConvertible {
    private var body: String

    /// An object whose first member is `"type"`: the Realtime API's event shape.
    public init(type: String) {
        body = "{\"type\":" + Self.quote(type)
    }

    /// An empty object.
    public init() {
        body = "{"
    }

    /// The object, closed: `{...}` on one line.
    public var text: String { body + "}" }

    /// ``text``.
    public var description: String { text }

    /// Adds an integer member.
    public mutating func add(_ key: String, _ value: Int) { member(key, String(value)) }

    /// Adds a number member in its shortest spelling (``number(_:)``); NaN and infinities, which JSON cannot
    /// spell, become `null`.
    public mutating func add(_ key: String, _ value: Double) { member(key, Self.number(value)) }

    /// Adds a number member rounded to `decimals` places after the point (0...9), for measurements:
    /// `add("cpu_s", 0.1234567, decimals: 3)` writes `0.123`. NaN and infinities become `null`.
    public mutating func add(_ key: String, _ value: Double, decimals: Int) {
        member(key, Self.fixed(value, decimals: min(9, max(0, decimals))))
    }

    /// Adds a string member, escaped.
    public mutating func add(_ key: String, _ value: String) { member(key, Self.quote(value)) }

    /// Adds a `true` / `false` member.
    public mutating func add(_ key: String, _ value: Bool) { member(key, value ? "true" : "false") }

    /// Adds a member whose value is JSON already (an object or array the caller built, e.g. another line's ``text``).
    public mutating func add(_ key: String, json value: String) { member(key, value) }

    private mutating func member(_ key: String, _ value: String) {
        if body != "{" { body += "," }
        body += Self.quote(key) + ":" + value
    }

    /// `text` as a JSON string, quotes included: `"`, `\` and the control characters escaped (`\n`, `\r`, `\t`,
    /// else `\u00XX`); everything else, non-ASCII included, as it is.
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The shortest spelling that reads back as `value` (`0.8`, `500`, not `500.0`); `null` for NaN and infinities.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }

    /// `value` with exactly `decimals` digits after the point (none and no point for 0); `null` when not finite.
    static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return "null" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return number(value) }
        let units = Int(scaled)
        let sign = value < 0 && units != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(units) }
        let whole = units / Int(scale)
        let fraction = String(units % Int(scale))
        return sign + String(whole) + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
}
