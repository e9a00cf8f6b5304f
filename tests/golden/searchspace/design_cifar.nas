# DESIGN.md section 3, second example: a fixed network, one tuned hparam.
space cifar_dropout
input 3x32x32
classes 10
hparam dropout = float(0.0, 0.9)
network {
    conv(kernel = 3, out = 32) relu  maxpool(2)
    conv(kernel = 3, out = 64) relu  maxpool(2)
    conv(kernel = 3, out = 64) relu
    flatten  dropout(rate = dropout)  fc(out = 64) relu  fc(out = classes)
}
objective maximize accuracy
