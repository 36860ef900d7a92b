import Crypto
import Foundation

/// Twilio's request signature (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed by the account's auth token, over
/// the URL Twilio called followed by the POST parameters sorted by name, each name then its value (a WebSocket
/// upgrade is a GET: the URL alone).
///
/// The URL is the one the carrier dialled: scheme, host (with the port if it named one), path and query. Behind a
/// TLS proxy that is the public `wss://` address, not the plain address the gateway listens on (the gateway's
/// `--public-url`). Twilio's own helper libraries also accept the URL with the default port added or removed,
/// since proxies differ on whether they keep it; so does ``isValid(_:authToken:url:parameters:)``.
public enum TwilioSignature {
    /// The signature Twilio sends for `url` (and `parameters`, for a POST).
    public static func sign(authToken: String, url: String, parameters: [String: String] = [:]) -> String {
        var text = url
        for key in parameters.keys.sorted() { text += key + parameters[key]! }
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(authToken.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// Whether `signature` is Twilio's for `url` (or its variant with the default port added or removed): compared
    /// in constant time, so a forger learns nothing from how long a refusal takes.
    public static func isValid(_ signature: String, authToken: String, url: String, parameters: [String: String] = [:]) -> Bool {
        guard !authToken.isEmpty, !signature.isEmpty else { return false }
        var valid = false
        for candidate in variants(of: url) {
            valid = constantTimeEqual(sign(authToken: authToken, url: candidate, parameters: parameters), signature) || valid
        }
        return valid
    }

    /// `url` as given, and with its scheme's default port toggled (`wss://h/p` <-> `wss://h:443/p`).
    static func variants(of url: String) -> [String] {
        guard let schemeEnd = url.range(of: "://") else { return [url] }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let defaultPort = ["https": "443", "wss": "443", "http": "80", "ws": "80"][scheme]
        guard let port = defaultPort else { return [url] }
        let rest = url[schemeEnd.upperBound...]
        let hostEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let host = rest[..<hostEnd]
        let tail = rest[hostEnd...]
        let prefix = url[..<schemeEnd.upperBound]
        if host.hasSuffix(":" + port) { return [url, String(prefix) + host.dropLast(port.count + 1) + tail] }
        if host.contains(":") { return [url] }
        return [url, String(prefix) + host + ":" + port + tail]
    }

    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }
}
