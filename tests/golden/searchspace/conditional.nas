# Conditional sub-spaces: a stage inside a branch, an int depth, a tied
# sub-network (let) used twice, a block with a default parameter and
# arithmetic on a decision.
space conditional
input 1x12x12
classes 3
hparam optimizer = choice(sgd, adam)
hparam lr = float(1e-4, 1e-1, log)
let act = choice(relu, hswish)
let head = choice(conv(kernel = choice(1, 3)) bn, skip)
block unit(out, k = 3) = conv(kernel = k, out = out) bn act
network {
    choice(stage(depth = int(1, 3), stride = 2) { unit(out = choice(4, 8)) },
           repeat(2) { unit(out = 6, k = 1) },
           skip)
    head relu head
    conv(kernel = 1, out = choice(2, 3) * 4) relu
    global_avg_pool fc(out = classes)
}
