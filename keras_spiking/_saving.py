"""How the package's classes are registered for Keras saving.

Every public class is registered under the package name ``keras_spiking`` (its
registered name is ``keras_spiking>ClassName``), so a model saved to ``.keras``
loads without ``custom_objects``. The registered name does not depend on the
module a class lives in: classes may move between modules, but not be renamed.
"""

import keras

register = keras.saving.register_keras_serializable(package="keras_spiking")
"""Class decorator: register a class for ``.keras`` saving and loading."""
