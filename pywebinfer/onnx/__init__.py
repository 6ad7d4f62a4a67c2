"""The ONNX file reader: protobuf wire format, messages, tensors, import to the IR."""
