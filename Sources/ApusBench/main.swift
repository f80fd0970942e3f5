import Apus
print(Tensor([1.0, 2.0]))
