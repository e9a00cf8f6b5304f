# A ResNet-like macro space: a stem and three stages of basic residual blocks
# (resblock: conv-BN-ReLU-conv-BN plus a shortcut, add, ReLU). Each stage
# chooses its depth and one width shared by all its blocks (a let ties them);
# the last stage also chooses the kernel of each block. Sized for 1x28x28
# (Fashion-MNIST); it also fits 3x32x32.
space resnet
input   1x28x28
classes 10

let width1 = choice(16, 24, 32)
let width2 = choice(32, 48, 64)
let width3 = choice(64, 96, 128)

network {
    conv(kernel = 3, out = width1) bn relu
    stage(depth = choice(1, 2, 3), stride = 1) { resblock(out = width1) }
    stage(depth = choice(1, 2, 3), stride = 2) { resblock(out = width2) }
    stage(depth = choice(1, 2, 3), stride = 2) { resblock(out = width3, kernel = choice(3, 5)) }
    global_avg_pool
    fc(out = classes)
}

constraint params <= 2M
objective maximize accuracy
