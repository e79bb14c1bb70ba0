// Helpers shared by test targets (a plain target under Tests/: no test cases of its own).
import Foundation
import Support

/// A fresh directory under the system's temporary directory, removed when the test process exits.
public func temporaryDirectory(_ tag: String) throws -> String {
    let dir = NSTemporaryDirectory() + "dcot-\(tag)-\(UUID().uuidString)"
    try makeDirectory(dir)
    TemporaryDirectories.add(dir)
    return dir
}

/// The directories the tests made, removed at exit (`atexit` runs after the last test).
public enum TemporaryDirectories {
    nonisolated(unsafe) private static var made: [String] = []
    private static let lock = NSLock()
    private static let registered: Void = { atexit { TemporaryDirectories.removeAll() } }()

    public static func add(_ dir: String) {
        _ = registered
        lock.lock(); made.append(dir); lock.unlock()
    }

    public static func removeAll() {
        lock.lock(); defer { lock.unlock() }
        for dir in made { try? FileManager.default.removeItem(atPath: dir) }
        made = []
    }
}
