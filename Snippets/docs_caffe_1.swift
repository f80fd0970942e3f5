import Apus
import ApusExchange
import Foundation

let prototxt = """
name: "Small"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 28 dim: 28 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 8 kernel_size: 5 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1" inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "ip1" top: "prob" }
"""
// CaffeNet(contentsOf: url) reads a file; build(phase:inputShapes:) takes a Data layer's record shape.
let caffe = try CaffeNet(prototxt: prototxt).build(phase: .test)
// The weights as .caffemodel bytes and back (or loadWeights(from: URL of a .caffemodel)):
try caffe.loadWeights(caffemodel: try caffe.caffemodelData(name: "Small"))
caffe.model.eval()
let probabilities = caffe.model(["data": Tensor.uniform([2, 1, 28, 28], low: 0, high: 255)])[0]
print(probabilities.shape)                             // [2, 10]: a functional Model (fit, evaluate, exportONNX…)
