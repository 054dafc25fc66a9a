"""Training augmentation that runs inside the compiled training step, on whatever device trains the model.

The paper's geometric augmentation (rotation, shifts, zoom, flips) plus random resized crops and, optionally,
photos shown from further away (the lesion smaller in a wider field, as many dermatoscopes frame it; HAM10000's
photos were cropped around the lesion), done as one per-photo affine resampling
(``keras.ops.image.affine_transform``), and photometric changes a different camera or light would make:
brightness, contrast, saturation, hue and gamma. Everything is built from jittable
``keras.ops`` and ``keras.random`` (Keras's RandomZoom / RandomTranslation / RandomCrop layers are not
jittable and would silently make JAX train uncompiled). It wraps the classifier only for training
(``training_model``), so a saved bundle holds no augmentation.
"""

import math

import keras
from keras import ops

from skin_core.model import IMAGE_INPUT


@keras.saving.register_keras_serializable(package="skin_core")
class LesionAugmentation(keras.layers.Layer):
    """Random geometric and photometric changes of a batch of RGB photos in [0, 255]; identity at inference.

    Args:
      shift, zoom: the paper's ranges (fraction of the side, fraction of the scale).
      crop_area: the range of the photo's area a random resized crop keeps (aspect ratio 3/4 to 4/3).
      zoom_out: the smallest share of the frame's side the whole photo may shrink to (1: never). With
        probability ``zoom_out_probability`` a photo is shown at a scale drawn between it and 1, instead of a
        crop, on its own skin colour (the mean of its outermost pixels); every other photo's corners are then
        filled the same way instead of by reflection.
      photometric: the ranges below, or False for the paper's geometric augmentation alone.
      brightness, contrast, saturation: relative ranges (0.2: factors 0.8 to 1.2).
      hue: the largest hue rotation, as a fraction of the colour circle.
      gamma: the largest gamma factor (1.25: gamma between 1/1.25 and 1.25).
    """

    def __init__(self, shift=0.1, zoom=0.1, crop_area=(0.6, 1.0), zoom_out=1.0, zoom_out_probability=0.5,
                 photometric=True, brightness=0.2, contrast=0.2, saturation=0.2, hue=0.03, gamma=1.25, seed=None,
                 **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not 0 < crop_area[0] <= crop_area[1] <= 1:
            raise ValueError(f"crop_area must be (low, high) with 0 < low <= high <= 1, got {crop_area!r}.")
        if not 0 < zoom_out <= 1:
            raise ValueError(f"zoom_out must be in (0, 1] (the smallest share of the frame's side), got {zoom_out!r}.")
        if not 0 <= zoom_out_probability <= 1:
            raise ValueError(f"zoom_out_probability must be in [0, 1], got {zoom_out_probability!r}.")
        self.shift, self.zoom, self.crop_area = float(shift), float(zoom), tuple(map(float, crop_area))
        self.zoom_out, self.zoom_out_probability = float(zoom_out), float(zoom_out_probability)
        self.photometric, self.brightness, self.contrast = bool(photometric), float(brightness), float(contrast)
        self.saturation, self.hue, self.gamma, self.seed = float(saturation), float(hue), float(gamma), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        images = ops.cast(images, "float32")
        images = self._geometric(images)
        if self.photometric:
            images = self._photometric(images)
        return images

    def _uniform(self, batch, low, high, shape=()):
        return keras.random.uniform((batch, *shape), low, high, seed=self.seed_generator)

    def _geometric(self, images):
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        angle = self._uniform(batch, -math.pi, math.pi)
        area = self._uniform(batch, *self.crop_area)
        aspect = ops.exp(self._uniform(batch, math.log(3 / 4), math.log(4 / 3)))
        zoom = self._uniform(batch, 1.0 - self.zoom, 1.0 + self.zoom)
        scale_x = ops.minimum(ops.sqrt(area * aspect), 1.0) * zoom  # sampled width / output width
        scale_y = ops.minimum(ops.sqrt(area / aspect), 1.0) * zoom
        if self.zooms_out:
            further = self._uniform(batch, 0.0, 1.0) < self.zoom_out_probability
            wider = zoom / self._uniform(batch, self.zoom_out, 1.0)
            scale_x, scale_y = ops.where(further, wider, scale_x), ops.where(further, wider, scale_y)
        flip_x = ops.sign(self._uniform(batch, -1.0, 1.0))
        flip_y = ops.sign(self._uniform(batch, -1.0, 1.0))
        reach_x = ops.maximum(1.0 - scale_x, 0.0) / 2 + self.shift  # how far the crop's centre may move
        reach_y = ops.maximum(1.0 - scale_y, 0.0) / 2 + self.shift
        shift_x = self._uniform(batch, -1.0, 1.0) * reach_x * width
        shift_y = self._uniform(batch, -1.0, 1.0) * reach_y * height
        cos, sin = ops.cos(angle), ops.sin(angle)
        # input = centre + R(angle) @ diag(scale * flip) @ (output - centre) + shift
        a0, a1 = cos * scale_x * flip_x, -sin * scale_y * flip_y
        b0, b1 = sin * scale_x * flip_x, cos * scale_y * flip_y
        cx, cy = (width - 1) / 2, (height - 1) / 2
        a2 = cx + shift_x - a0 * cx - a1 * cy
        b2 = cy + shift_y - b0 * cx - b1 * cy
        zeros = ops.zeros_like(a0)
        transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        if not self.zooms_out:
            return ops.image.affine_transform(images, transform, interpolation="bilinear", fill_mode="reflect")
        return _on_skin(images, transform)

    @property
    def zooms_out(self) -> bool:
        return self.zoom_out < 1 and self.zoom_out_probability > 0

    def _photometric(self, images):
        batch = ops.shape(images)[0]
        x = images / 255.0
        x = x * self._uniform(batch, 1.0 - self.brightness, 1.0 + self.brightness, (1, 1, 1))
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        x = (x - mean) * self._uniform(batch, 1.0 - self.contrast, 1.0 + self.contrast, (1, 1, 1)) + mean
        luminance = ops.sum(x * ops.convert_to_tensor([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
        x = luminance + (x - luminance) * self._uniform(batch, 1.0 - self.saturation, 1.0 + self.saturation,
                                                        (1, 1, 1))
        x = _rotate_hue(x, self._uniform(batch, -self.hue, self.hue) * 2 * math.pi)
        gamma = ops.exp(self._uniform(batch, -math.log(self.gamma), math.log(self.gamma), (1, 1, 1)))
        x = ops.power(ops.clip(x, 0.0, 1.0), gamma)
        return x * 255.0

    def get_config(self):
        return {**super().get_config(), "shift": self.shift, "zoom": self.zoom, "crop_area": list(self.crop_area),
                "zoom_out": self.zoom_out, "zoom_out_probability": self.zoom_out_probability,
                "photometric": self.photometric, "brightness": self.brightness, "contrast": self.contrast,
                "saturation": self.saturation, "hue": self.hue, "gamma": self.gamma, "seed": self.seed}


def _on_skin(images, transform):
    """Resample the photos, filling what lies outside each one with its skin colour (the mean of its outermost
    pixels) rather than a mirror image, which would repeat the lesion around a photo shown from further away.
    A coverage channel resampled alongside blends the photo's edge into the fill without a dark seam."""
    rim = ops.concatenate([images[:, :2], images[:, -2:], ops.swapaxes(images[:, :, :2], 1, 2),
                           ops.swapaxes(images[:, :, -2:], 1, 2)], axis=2)
    skin = ops.mean(rim, axis=(1, 2))[:, None, None, :]
    covered = ops.concatenate([images, ops.ones_like(images[..., :1])], axis=-1)
    moved = ops.image.affine_transform(covered, transform, interpolation="bilinear", fill_mode="constant",
                                       fill_value=0)
    return moved[..., :3] + (1.0 - moved[..., 3:]) * skin


# RGB <-> YIQ (NTSC): a hue rotation is a rotation of the I-Q chroma plane.
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.595716, -0.274453, -0.321263), (0.211456, -0.522591, 0.311135))
_YIQ_TO_RGB = ((1.0, 0.9563, 0.6210), (1.0, -0.2721, -0.6474), (1.0, -1.1070, 1.7046))


def _rotate_hue(rgb, angle):
    """Rotate each photo's hue by ``angle`` (radians, one per photo)."""
    yiq = ops.einsum("bhwc,dc->bhwd", rgb, ops.convert_to_tensor(_RGB_TO_YIQ))
    cos, sin = ops.cos(angle)[:, None, None], ops.sin(angle)[:, None, None]
    y, i, q = yiq[..., 0], yiq[..., 1], yiq[..., 2]
    rotated = ops.stack([y, i * cos - q * sin, i * sin + q * cos], axis=-1)
    return ops.einsum("bhwc,dc->bhwd", rotated, ops.convert_to_tensor(_YIQ_TO_RGB))


def training_model(model: keras.Model, augmentation: LesionAugmentation) -> keras.Model:
    """The classifier behind the augmentation, with the same named inputs: fit this, save ``model``."""
    inputs = {tensor.name: keras.Input(tensor.shape[1:], name=tensor.name) for tensor in model.inputs}
    image = augmentation(inputs[IMAGE_INPUT])
    outputs = model([image if name == IMAGE_INPUT else tensor for name, tensor in inputs.items()])
    return keras.Model(inputs, outputs, name=f"{model.name}_training")
