import Foundation
import RealtimeAudio
import RealtimeCarrier

/// A Twilio `media` message as Foundation's Codable sees it (what a gateway written with JSONDecoder declares).
struct TwilioMediaMessage: Codable {
    struct Media: Codable {
        var track: String?
        var chunk: String?
        var timestamp: String?
        var payload: String
    }
    var event: String
    var sequenceNumber: String?
    var streamSid: String
    var media: Media
}

/// A gateway's outbound `media` message, as it would encode it with JSONEncoder.
struct TwilioOutboundMedia: Codable {
    struct Media: Codable { var payload: String }
    var event: String
    var streamSid: String
    var media: Media
}

/// The carrier hot path, ours against Foundation's two JSON stacks, on the message every call carries 50 times a
/// second each way: a Twilio `media` message of 20 ms of µ-law (160 bytes, 216 base64 characters). Decoding is
/// message bytes -> the payload's bytes (a check of the stream id included); encoding is payload bytes ->
/// message bytes. Each kernel does the whole job a gateway needs, so the ratios compare like with like.
public func carrierKernels() -> [Kernel] {
    let sid = "MZ18ad3ab5a668481ce02b83e7395059f0"
    let audio = (0..<160).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
    let text = #"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"\#(Base64.encode(audio))"},"streamSid":"\#(sid)"}"#
    let message = Array(text.utf8)
    let data = Data(message)
    let items = 1

    var codec = MediaStreamCodec(carrier: .twilio, streamID: sid)
    var payload = [UInt8](repeating: 0, count: codec.payloadCapacity)
    var out = [UInt8](repeating: 0, count: codec.maximumMediaMessageBytes)
    var sink = 0

    let oursDecode = Kernel(name: "carrier-twilio-media-decode-ours", items: items, rate: 50, bytesMoved: message.count) {
        message.withUnsafeBufferPointer { m in
            payload.withUnsafeMutableBufferPointer { p in
                if case .media(let f)? = try? codec.decode(m, payload: p) { sink &+= f.byteCount }
            }
        }
    }
    let serializationDecode = Kernel(name: "carrier-twilio-media-decode-jsonserialization", items: items, rate: 50, bytesMoved: message.count) {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              object["event"] as? String == "media", object["streamSid"] as? String == sid,
              let media = object["media"] as? [String: Any], let text = media["payload"] as? String,
              let bytes = Data(base64Encoded: text) else { return }
        sink &+= bytes.count
    }
    let decoder = JSONDecoder()
    let codableDecode = Kernel(name: "carrier-twilio-media-decode-jsondecoder", items: items, rate: 50, bytesMoved: message.count) {
        guard let m = try? decoder.decode(TwilioMediaMessage.self, from: data), m.event == "media", m.streamSid == sid,
              let bytes = Data(base64Encoded: m.media.payload) else { return }
        sink &+= bytes.count
    }
    let oursEncode = Kernel(name: "carrier-twilio-media-encode-ours", items: items, rate: 50, bytesMoved: message.count) {
        audio.withUnsafeBufferPointer { a in
            out.withUnsafeMutableBufferPointer { o in sink &+= (try? codec.encodeMedia(a, into: o)) ?? 0 }
        }
    }
    let audioData = Data(audio)
    let serializationEncode = Kernel(name: "carrier-twilio-media-encode-jsonserialization", items: items, rate: 50, bytesMoved: message.count) {
        let object: [String: Any] = ["event": "media", "streamSid": sid, "media": ["payload": audioData.base64EncodedString()]]
        sink &+= (try? JSONSerialization.data(withJSONObject: object))?.count ?? 0
    }
    let encoder = JSONEncoder()
    let codableEncode = Kernel(name: "carrier-twilio-media-encode-jsonencoder", items: items, rate: 50, bytesMoved: message.count) {
        let m = TwilioOutboundMedia(event: "media", streamSid: sid, media: .init(payload: audioData.base64EncodedString()))
        sink &+= (try? encoder.encode(m))?.count ?? 0
    }
    return [oursDecode, serializationDecode, codableDecode, oursEncode, serializationEncode, codableEncode]
}
