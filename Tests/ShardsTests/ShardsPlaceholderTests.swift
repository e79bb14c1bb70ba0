import XCTest
import Shards

final class ShardsPlaceholderTests: XCTestCase {
    func testModuleLinks() {}
}
