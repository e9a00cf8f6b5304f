# Several errors in one file: all are reported in one run.
space bad
input 1x28x28
classes 10
let unused = choice(1, 2)
hparam lr = float(0.1, 0.01, log)
block b(out) = conv(kernel = 3, out = out) bnn
network {
    conv(kernel = 3, out = 16, strid = 2) b(out = 8)
    stage(depth = choice(1, 2), stride = 2) { mbconv(kernel = 4, expand = 3) }
    global_avg_pool fc(out = classes)
}
constraint latency <= 2KB
