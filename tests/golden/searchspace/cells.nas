# A DARTS-like cell with chosen inputs (node j >= 3 picks 2 of its
# predecessors, each with an op), an untied inline cell, a residual group.
space cells
input 3x16x16
classes 4
cell darts(nodes = 5, ops = choice(skip, conv(kernel = choice(3, 5)) bn, maxpool(3, 1, 1)), inputs = 2)
network {
    conv(kernel = 3, out = 8) bn
    darts darts
    residual { relu conv(kernel = 3) bn }
    cell(nodes = 3, ops = choice(none, skip, avgpool(3, 1, 1)))
    global_avg_pool fc(out = classes)
}
