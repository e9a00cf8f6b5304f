# NAS-Bench-201 (Dong & Yang, ICLR 2020): the cell search space and its macro
# skeleton, for CIFAR-10 sized images.
#
# One cell is searched and tied across all 15 positions: 4 nodes, an edge for
# every pair i < j (6 edges), each edge one of 5 ops, node j = sum of its
# incoming edges, the cell's output = node 3. 5^6 = 15625 cells.
space nb201
input   3x32x32
classes 10

# The edge ops. Convolutions are ReLU-Conv-BN with stride 1, no bias, and keep
# the channel count (conv without `out` keeps its input's channels).
block skip_connect = skip
block nor_conv_1x1 = relu conv(kernel = 1) bn
block nor_conv_3x3 = relu conv(kernel = 3) bn
block avg_pool_3x3 = avgpool(kernel = 3, stride = 1, pad = 1)

cell nb201(nodes = 4, ops = choice(none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3))

# The reduction block: a ResNet basic block with stride 2,
# ReLU-Conv3x3(s2)-BN then ReLU-Conv3x3-BN, plus the shortcut
# AvgPool 2x2 (s2) then Conv1x1 (no BN); output = shortcut + branch.
block reduce(out) = residual(shortcut = avgpool(kernel = 2, stride = 2) conv(kernel = 1, out = out)) {
    relu conv(kernel = 3, stride = 2, out = out) bn
    relu conv(kernel = 3, out = out) bn
}

network {
    conv(kernel = 3, out = 16) bn          # stem, C = 16
    repeat(5) { nb201 }                     # 5 cells at 16 x 32 x 32
    reduce(out = 32)
    repeat(5) { nb201 }                     # 5 cells at 32 x 16 x 16
    reduce(out = 64)
    repeat(5) { nb201 }                     # 5 cells at 64 x 8 x 8
    bn relu global_avg_pool fc(out = classes)
}

objective maximize accuracy
