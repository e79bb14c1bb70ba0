// Pooling: max pool (ResNet stem: kernel 3, stride 2, padding 1) and global average pool -> [N, C, 1, 1].
import Tensor

public func maxPool2d(_ x: Variable, kernel: Int = 3, stride: Int = 2, padding: Int = 1) -> Variable {
    guard Tape.isRecording, x.slot != nil else {               // no gradient: no argmax indices
        return Variable(PoolKernel.maxPoolValues(x.value, kernel: kernel, stride: stride, padding: padding))
    }
    let (y, idx) = PoolKernel.maxPool(x.value, kernel: kernel, stride: stride, padding: padding)
    let (sx, shape) = (x.slot, x.shape)
    return Tape.record(y, [x]) { g in sx?.accumulate(PoolKernel.maxPoolBackward(g, indices: idx, inputShape: shape)) }
}

public func globalAvgPool(_ x: Variable) -> Variable {
    let (sx, shape) = (x.slot, x.shape)
    return Tape.record(PoolKernel.globalAvgPool(x.value), [x]) { g in
        sx?.accumulate(PoolKernel.globalAvgPoolBackward(g, inputShape: shape))
    }
}
