import XCTest
import Support

final class SupportPlaceholderTests: XCTestCase {
    func testModuleLinks() {}
}
