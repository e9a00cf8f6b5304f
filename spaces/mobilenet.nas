# A MnasNet / ProxylessNAS-like macro space of inverted-residual (mbconv)
# layers, sized for 1x28x28 (Fashion-MNIST) and 3x32x32 (CIFAR-10) inputs.
#
# Every mbconv layer chooses its kernel (3, 5, 7), expansion (1, 3, 6) and
# squeeze-and-excitation; each stage chooses its depth and one width for all
# its layers (a let ties them). In the stride-1 stages a layer may also be
# skipped (skip keeps the shape there). The stage stride applies to the first
# layer of each stage only.
space mobilenet
input   1x28x28
classes 10

let w1 = choice(16, 24)
let w2 = choice(24, 32, 40)
let w3 = choice(40, 48, 64)
let w4 = choice(64, 80, 96)
let w5 = choice(96, 112, 128)

block mb(out, stride) = mbconv(kernel = choice(3, 5, 7), expand = choice(1, 3, 6),
                               out = out, stride = stride, se = choice(no, yes))

network {
    conv(kernel = 3, out = choice(16, 24)) bn relu                  # stem, 28x28
    mb(out = w1, stride = 1)                                         # fixed first layer
    stage(depth = choice(1, 2, 3), stride = 2) { mb(out = w2) }     # 14x14
    stage(depth = choice(1, 2, 3), stride = 2) { mb(out = w3) }     # 7x7
    stage(depth = choice(1, 2, 3), stride = 1) {
        choice(mb(out = w4), skip)
    }
    stage(depth = choice(1, 2, 3), stride = 2) { mb(out = w5) }     # 4x4
    conv(kernel = 1, out = choice(192, 256)) bn relu
    global_avg_pool dropout(rate = 0.2) fc(out = classes)
}

constraint macs <= 30M
objective maximize accuracy
