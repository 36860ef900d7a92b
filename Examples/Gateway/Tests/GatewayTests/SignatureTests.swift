@testable import GatewayCore
import Testing

@Suite("Twilio's request signature")
struct SignatureTests {
    @Test("Twilio's documented example: a POST's URL and sorted parameters")
    func documentedExample() {
        let parameters = ["CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030", "To": "+18005551212"]
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2"
        #expect(TwilioSignature.sign(authToken: "12345", url: url, parameters: parameters) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
        #expect(TwilioSignature.isValid("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", authToken: "12345", url: url, parameters: parameters))
    }

    @Test("a WebSocket upgrade is signed over its URL alone; another URL, token or a bit flipped is refused")
    func upgrade() {
        // Computed with Python's hmac and hashlib, independently of this code.
        let url = "wss://voice.example.com/media"
        #expect(TwilioSignature.sign(authToken: "12345", url: url) == "jFDHVhI8XO69C49uXR3xmdZPylY=")
        #expect(TwilioSignature.isValid("jFDHVhI8XO69C49uXR3xmdZPylY=", authToken: "12345", url: url))
        // The default port added or removed by a proxy still matches, as Twilio's helper libraries accept.
        #expect(TwilioSignature.isValid("jFDHVhI8XO69C49uXR3xmdZPylY=", authToken: "12345", url: "wss://voice.example.com:443/media"))
        // A replay for another URL, another token, a flipped character, nothing.
        #expect(!TwilioSignature.isValid("jFDHVhI8XO69C49uXR3xmdZPylY=", authToken: "12345", url: "wss://voice.example.com/other"))
        #expect(!TwilioSignature.isValid("jFDHVhI8XO69C49uXR3xmdZPylY=", authToken: "54321", url: url))
        #expect(!TwilioSignature.isValid("jFDHVhI8XO69C49uXR3xmdZPylZ=", authToken: "12345", url: url))
        #expect(!TwilioSignature.isValid("", authToken: "12345", url: url))
        #expect(!TwilioSignature.isValid("jFDHVhI8XO69C49uXR3xmdZPylY=", authToken: "", url: url))
        #expect(TwilioSignature.variants(of: "ws://127.0.0.1:8080/media") == ["ws://127.0.0.1:8080/media"])
    }
}
