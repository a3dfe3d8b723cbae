"""The de-identification profile as data: which SOP classes we admit and which attributes survive.

Profile "enclave-deid 0.1": PS3.15 Basic Application Confidentiality Profile (113100) with the
options Retain Longitudinal Temporal Information with Modified Dates (113107), Retain Patient
Characteristics (113108) and Retain Device Identity (113109), implemented as an ALLOW-LIST:

- `KEEP`: public attributes copied as they are (UI values are still remapped and DA/DT values still
  shifted by the walker; see `imaging.dicom_deid`), for every SOP class (the "*" row);
  `keep_for(sop_class)` adds what only its family keeps (MR physics, ultrasound calibration,
  NM/PET quantitation). Within a class the table is context-free: a keyword kept at the top level
  is also kept inside any kept sequence.
- `EMPTY`: Type 2 attributes that must exist but lose their value (Z).
- `REPLACE`: attributes the walker rewrites (pseudonyms, capped age).
- Everything else is removed (X), as are all private attributes, curves (50xx) and overlays (60xx),
  whatever this table says.

Not yet here (later issues): per-class rows for more families (seeded from Grand-Challenge's
procedure.json), a safe-private list (113111), Clean Descriptors (113105).
"""

from pydicom.datadict import tag_for_keyword

PROFILE_VERSION = "enclave-deid 0.1"
DEID_METHOD = f"Enclave {PROFILE_VERSION}; PS3.15 Basic+113107+113108+113109"
DEID_METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113108", "Retain Patient Characteristics Option"),
    ("113109", "Retain Device Identity Option"),
)
CLEAN_PIXEL_CODE = ("113101", "Clean Pixel Data Option")  # only on files whose pixels were masked

if len(DEID_METHOD) > 64:  # LO, PS3.5 6.2
    raise ImportError("DeidentificationMethod exceeds the 64 characters of an LO value")

STANDARD_UID_ROOT = "1.2.840.10008."
PIXEL_DATA_TAG = 0x7FE00010

# Image storage SOP classes we admit; anything else is rejected (unknown -> reject).
IMAGE_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.1": "CR",
    "1.2.840.10008.5.1.4.1.1.1.1": "DX for presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "DX for processing",
    "1.2.840.10008.5.1.4.1.1.1.2": "MG for presentation",
    "1.2.840.10008.5.1.4.1.1.1.2.1": "MG for processing",
    "1.2.840.10008.5.1.4.1.1.2": "CT",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT",
    "1.2.840.10008.5.1.4.1.1.3.1": "US multi-frame",
    "1.2.840.10008.5.1.4.1.1.4": "MR",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR",
    "1.2.840.10008.5.1.4.1.1.6.1": "US",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary capture",
    "1.2.840.10008.5.1.4.1.1.12.1": "XA",
    "1.2.840.10008.5.1.4.1.1.20": "NM",
    "1.2.840.10008.5.1.4.1.1.128": "PET",
    "1.2.840.10008.5.1.4.1.1.77.1.1": "VL endoscopic",
    "1.2.840.10008.5.1.4.1.1.77.1.2": "VL microscopic",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VL photographic",
    "1.2.840.10008.5.1.4.1.1.77.1.5.1": "Ophthalmic photography 8 bit",
    "1.2.840.10008.5.1.4.1.1.77.1.5.2": "Ophthalmic photography 16 bit",
    "1.2.840.10008.5.1.4.1.1.77.1.5.4": "Ophthalmic tomography (OCT)",
}
DOCUMENT_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1.104."  # encapsulated PDF, CDA, STL...
RAW_DATA_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66"

# Spec step 7: modalities whose images often carry burned-in text when BurnedInAnnotation is absent.
BURNED_IN_RISK_MODALITIES = frozenset({"US", "XA", "RF", "ES", "XC", "GM", "SC", "OT", "DOC"})
BURNED_IN_RISK_IMAGE_TYPES = frozenset({"SCREEN SAVE"})
BURNED_IN_RISK_DESCRIPTION = r"dose|screen|report|save"

_KEEP_KEYWORDS = (
    # SOP common, study/series/instance identity (UIDs remapped by the walker)
    "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID",
    "SeriesInstanceUID", "Modality", "SeriesNumber", "InstanceNumber", "AcquisitionNumber",
    "ImageType", "ContentQualification", "ReferencedImageSequence", "ReferencedSOPClassUID",
    "ReferencedSOPInstanceUID", "ReferencedFrameNumber",
    # dates (shifted, 113107) and times (kept)
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionDateTime",
    "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime",
    # patient characteristics (113108); PatientAge is capped by the walker
    "PatientSex", "PatientSize", "PatientWeight",
    # device identity (113109); StationName and institution stay out (113112 is not in the profile)
    "Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions",
    "SecondaryCaptureDeviceManufacturer", "SecondaryCaptureDeviceManufacturerModelName",
    "SecondaryCaptureDeviceSoftwareVersions", "ConversionType",
    # image pixel and multi-frame modules
    "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration", "Rows", "Columns",
    "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "PixelAspectRatio",
    "SmallestImagePixelValue", "LargestImagePixelValue", "PixelData", "NumberOfFrames",
    "FrameIncrementPointer", "FrameTime", "FrameTimeVector", "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths", "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor", "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData", "LossyImageCompression", "LossyImageCompressionRatio",
    "LossyImageCompressionMethod", "BurnedInAnnotation", "RecognizableVisualFeatures",
    # grey-scale presentation: rescale, window, LUT shape
    "RescaleIntercept", "RescaleSlope", "RescaleType", "WindowCenter", "WindowWidth",
    "PixelPaddingValue", "PixelPaddingRangeLimit",
    "WindowCenterWidthExplanation", "VOILUTFunction", "PresentationLUTShape",
    # geometry and frame of reference
    "PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing", "SliceThickness",
    "SpacingBetweenSlices", "ImageOrientationPatient", "ImagePositionPatient", "SliceLocation",
    "FrameOfReferenceUID", "PositionReferenceIndicator", "PatientPosition", "PatientOrientation",
    "BodyPartExamined", "Laterality", "ImageLaterality", "ViewPosition",
    "EstimatedRadiographicMagnificationFactor", "DistanceSourceToDetector",
    "DistanceSourceToPatient",
    # acquisition physics (CT, MR, X-ray)
    "KVP", "XRayTubeCurrent", "ExposureTime", "Exposure", "ConvolutionKernel", "FilterType",
    "GantryDetectorTilt", "DataCollectionDiameter", "ReconstructionDiameter", "ScanOptions",
    "TableHeight", "RotationDirection",
    "FocalSpots", "GeneratorPower", "RevolutionTime", "SingleCollimationWidth",
    "TotalCollimationWidth", "TableSpeed", "TableFeedPerRotation", "SpiralPitchFactor", "CTDIvol",
    # enhanced multi-frame functional groups and dimensions
    "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence", "PixelMeasuresSequence",
    "PlanePositionSequence", "PlaneOrientationSequence", "FrameContentSequence",
    "FrameAcquisitionNumber", "FrameReferenceDateTime", "FrameAcquisitionDateTime",
    "FrameAcquisitionDuration", "DimensionIndexValues", "StackID", "InStackPositionNumber",
    "TemporalPositionIndex", "PixelValueTransformationSequence", "FrameVOILUTSequence",
    "DimensionOrganizationSequence", "DimensionOrganizationUID", "DimensionOrganizationType",
    "DimensionIndexSequence", "DimensionIndexPointer", "FunctionalGroupPointer",
    "CTImageFrameTypeSequence", "MRImageFrameTypeSequence", "FrameType", "PixelPresentation",
    "VolumetricProperties", "VolumeBasedCalculationTechnique",
    # Type 1/2 attributes that dciodvfy found dropped (tests/imaging/test_oracles_dcmtk.py):
    # segmented palettes, NM frame vectors (FrameIncrementPointer targets), DX and enhanced CT
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID",
    "EnergyWindowVector", "NumberOfEnergyWindows", "DetectorVector", "NumberOfDetectors",
    "PhaseVector", "NumberOfPhases", "RotationVector", "NumberOfRotations", "RRIntervalVector",
    "NumberOfRRIntervals", "TimeSlotVector", "NumberOfTimeSlots", "SliceVector", "NumberOfSlices",
    "AngularViewVector", "TimeSliceVector", "NumberOfTimeSlices",
    "PresentationIntentType", "PixelIntensityRelationship", "PixelIntensityRelationshipSign",
    "DetectorType", "PositionerType", "FrameAnatomySequence", "FrameLaterality",
    "IrradiationEventIdentificationSequence", "IrradiationEventUID", "AcquisitionContextSequence",
    "AcquisitionContrast", "AcquisitionDuration",
    # coded entries inside kept sequences (anatomy): controlled vocabularies, not free text
    "AnatomicRegionSequence", "AnatomicRegionModifierSequence", "CodeValue",
    "CodingSchemeDesignator", "CodingSchemeVersion", "CodeMeaning", "LongCodeValue",
    "URNCodeValue",
)
# Per SOP class (the spec's "(SOPClass|*) x tag" table; the list above is the "*" row): what only
# one family of classes keeps, on top of it.
_FAMILY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "mr": (  # MR acquisition physics, enhanced MR image and pulse-sequence descriptions
        "MagneticFieldStrength", "RepetitionTime", "EchoTime", "InversionTime", "FlipAngle",
        "EchoTrainLength", "ScanningSequence", "SequenceVariant", "MRAcquisitionType",
        "ImagingFrequency", "ImagedNucleus", "NumberOfAverages", "ComplexImageComponent",
        "CoverageOfKSpace", "EchoPlanarPulseSequence", "EchoPulseSequence",
        "GeometryOfKSpaceTraversal", "KSpaceFiltering", "MultiPlanarExcitation",
        "MultipleSpinEcho", "NumberOfKSpaceTrajectories", "OversamplingPhase", "PhaseContrast",
        "PulseSequenceName", "ResonantNucleus", "SaturationRecovery", "SegmentedKSpaceTraversal",
        "SpectrallySelectedSuppression", "SteadyStatePulseSequence", "TimeOfFlightContrast",
        "RectilinearPhaseEncodeReordering",
    ),
    "ultrasound": (  # calibration; the regions also drive the pixel mask (imaging.pixel_clean)
        "SequenceOfUltrasoundRegions", "RegionSpatialFormat", "RegionDataType", "RegionFlags",
        "RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1",
        "RegionLocationMaxY1", "PhysicalUnitsXDirection", "PhysicalUnitsYDirection",
        "PhysicalDeltaX", "PhysicalDeltaY", "ReferencePixelX0", "ReferencePixelY0",
    ),
    "nm_pet": (  # quantitation
        "Units", "DecayCorrection", "CorrectedImage", "RadiopharmaceuticalInformationSequence",
        "RadiopharmaceuticalStartTime", "RadiopharmaceuticalStartDateTime",
        "RadionuclideTotalDose", "RadionuclideHalfLife", "RadionuclidePositronFraction",
    ),
}
_FAMILY_OF_CLASS = {
    "1.2.840.10008.5.1.4.1.1.4": "mr", "1.2.840.10008.5.1.4.1.1.4.1": "mr",
    "1.2.840.10008.5.1.4.1.1.6.1": "ultrasound", "1.2.840.10008.5.1.4.1.1.3.1": "ultrasound",
    "1.2.840.10008.5.1.4.1.1.20": "nm_pet", "1.2.840.10008.5.1.4.1.1.128": "nm_pet",
}
_EMPTY_KEYWORDS = (
    "PatientBirthDate", "ReferringPhysicianName", "StudyID", "AccessionNumber",
)
_REPLACE_KEYWORDS = ("PatientName", "PatientID", "PatientAge")


def _tags(keywords: tuple[str, ...]) -> frozenset[int]:
    tags = {tag_for_keyword(keyword) for keyword in keywords}
    if None in tags:
        unknown = [k for k in keywords if tag_for_keyword(k) is None]
        raise ImportError(f"unknown DICOM keywords in the profile table: {unknown}")
    return frozenset(int(tag) for tag in tags if tag is not None)


KEEP = _tags(_KEEP_KEYWORDS)
EMPTY = _tags(_EMPTY_KEYWORDS)
REPLACE = _tags(_REPLACE_KEYWORDS)
_FAMILY_TAGS = {family: _tags(keywords) for family, keywords in _FAMILY_KEYWORDS.items()}
KEEP_BY_CLASS: dict[str, frozenset[int]] = {
    uid: KEEP | _FAMILY_TAGS[_FAMILY_OF_CLASS[uid]] if uid in _FAMILY_OF_CLASS else KEEP
    for uid in IMAGE_SOP_CLASSES
}
if any(keep & (EMPTY | REPLACE) for keep in KEEP_BY_CLASS.values()) or any(
        KEEP & tags for tags in _FAMILY_TAGS.values()):
    raise ImportError("a tag appears in more than one action list of the profile table")


def keep_for(sop_class_uid: str) -> frozenset[int]:
    """The attributes an object of this (admitted) SOP class keeps: the "*" row and its
    family's."""
    return KEEP_BY_CLASS[sop_class_uid]


def is_always_removed(tag: int) -> bool:
    """Private attributes, curves (50xx) and overlays (60xx) never survive, whatever KEEP says."""
    group = tag >> 16
    return bool(group & 1) or (group & 0xFF00) in (0x5000, 0x6000)
