// Types of vendor/tfjs-core-extras.js: the chained-op augmentation of tfjs-core's `Tensor`.
import "@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js"
