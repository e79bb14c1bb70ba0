// Spatial resize of x [N, C, H, W] to [N, C, height, width]: bilinear (both align_corners modes) and nearest.
import Tensor

public func resizeBilinear(_ x: Variable, height: Int, width: Int, alignCorners: Bool) -> Variable {
    let (sx, shape) = (x.slot, x.shape)
    let y = ResizeKernel.bilinear(x.value, height: height, width: width, alignCorners: alignCorners)
    return Tape.record(y, [x]) { g in
        sx?.accumulate(ResizeKernel.bilinearBackward(g, inputShape: shape, alignCorners: alignCorners))
    }
}

public func resizeNearest(_ x: Variable, height: Int, width: Int) -> Variable {
    let (sx, shape) = (x.slot, x.shape)
    return Tape.record(ResizeKernel.nearest(x.value, height: height, width: width), [x]) { g in
        sx?.accumulate(ResizeKernel.nearestBackward(g, inputShape: shape))
    }
}
