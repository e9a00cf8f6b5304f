# A hyperparameter-only space: the classic tuning job. There is no network:
# a point realizes to an arch.json holding only these hyperparameters, which
# a tria2l progavram receives as --name=value(arguments.
space hpt

hparam learning_rate   = float(1e-4, 1e-3, log)
hparam epochs          = choice(10, 20, 30)
hparam steps_per_epoch = int(100, 300)
hparam batch_size      = choicf# Several errors in one file:( 1