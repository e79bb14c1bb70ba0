import XCTest
import Pipeline

final class PipelinePlaceholderTests: XCTestCase {
    func testModuleLinks() {}
}
