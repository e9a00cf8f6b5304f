# DESIGN.md section 3, first example, as written.
space mobile_fmnist
input   1x28x28
classes 10

hparam lr         = float(0.02, 0.4, log)
hparam batch_size = choice(64, 128)

let width = choice(16, 24, 32)                 # one decision, used twice

block mb(out, stride) = mbconv(kernel = choice(3, 5, 7), expand = choice(1, 3, 6),
                               out = out, stride = stride, se = choice(no, yes))
network {
    conv(kernel = 3, out = choice(8, 16)) bn relu
    stage(depth = choice(1, 2, 3), stride = 1) { choice(mb(out = width), skip) }
    stage(depth = choice(2, 3, 4), stride = 2) { mb(out = choice(32, 48)) }
    stage(depth = choice(2, 3, 4), stride = 2) { mb(out = choice(64, 96)) }
    conv(kernel = 1, out = width * 4) bn relu
    global_avg_pool  dropout(rate = float(0, 0.5))  fc(out = classes)
}
constraint latency <= 1ms
objective maximize accuracy
