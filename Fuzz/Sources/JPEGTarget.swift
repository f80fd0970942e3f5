import ApusData
import Foundation

/// `Image.decode` of JPEG bytes, then `tensor()`.
let jpegTarget = FuzzTarget(name: "jpeg", run: { data in
    convert(try Image.decode(data, source: "fuzz", channels: requestedChannels(data)))
}, seeds: {
    ["gray.jpg": try patternImage(width: 8, height: 8, channels: 1).jpegData(quality: 80),
     "rgb.jpg": try patternImage(width: 17, height: 9, channels: 3).jpegData(quality: 50)]
})
