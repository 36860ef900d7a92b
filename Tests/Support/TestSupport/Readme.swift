import Foundation

/// README's code block that follows `heading` (a line such as "## Library") and a test file's block between
/// `// README BEGIN` and `// README END`, each as trimmed, non-empty lines without `import`s, so a test can
/// prove the README's example is the code it compiles and runs. Nil when a marker is missing.
public func readmeBlocks(after heading: String, testFile: String) throws -> (readme: [String], test: [String])? {
    let root = URL(fileURLWithPath: testFile).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    let source = try String(contentsOf: URL(fileURLWithPath: testFile), encoding: .utf8)
    guard let open = readme.range(of: heading + "\n\n```swift\n"),
          let close = readme.range(of: "```\n", range: open.upperBound..<readme.endIndex),
          let begin = source.range(of: "// README BEGIN\n"), let end = source.range(of: "// README END") else { return nil }
    func lines(_ text: Substring) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.hasPrefix("import ") }
    }
    return (lines(readme[open.upperBound..<close.lowerBound]), lines(source[begin.upperBound..<end.lowerBound]))
}
