import XCTest
import Autograd

final class AutogradPlaceholderTests: XCTestCase {
    func testModuleLinks() {}
}
