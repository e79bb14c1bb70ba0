import XCTest
import ImageIO

final class ImageIOPlaceholderTests: XCTestCase {
    func testModuleLinks() {}
}
