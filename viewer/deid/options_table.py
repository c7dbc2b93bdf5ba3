"""The option columns of DICOM PS3.15 Table E.1-1 that radviewer offers, and a subset of the
Safe Private Attributes of Table E.3.10-1, as data (keywords of pydicom's dictionary).

The Basic Profile column comes from dicom-anonymizer's table (see :mod:`viewer.deid.profile`),
which carries that column only. These option columns were generated once from the standard's
Table E.1-1 (2024 edition, as scraped by the idiscore project) and are checked against
pydicom's dictionary by the tests; a "C" in an option column means "clean" (for dates: shift
them, see :mod:`viewer.deid.values`), "K" keep. An option overrides the Basic Profile.
"""

from __future__ import annotations

# Retain Patient Characteristics Option (DCM 113108): age, sex, size, weight... kept (K) or
# kept after cleaning free text (C).
PATIENT_CHARACTERISTICS_KEEP = (
    "EthnicGroup", "EthnicGroupCodeSequence", "PatientAge", "PatientSex", "PatientSexNeutered",
    "PatientSize", "PatientWeight", "PregnancyStatus", "SelectorASValue", "SmokingStatus",
)

PATIENT_CHARACTERISTICS_CLEAN = (
    "Allergies", "PatientState", "PreMedication", "SpecialNeeds",
)

# Retain Longitudinal Temporal Information with Modified Dates Option (DCM 113107): these dates
# and times are kept, dates shifted by the patient's offset (note 4 of E.1.1: any other DA/DT
# attribute is handled by its VR the same way).
MODIFIED_DATES_CLEAN = (
    "AcquisitionDate", "AcquisitionDateTime", "AcquisitionTime", "AdmittingDate",
    "AdmittingTime", "ApprovalStatusDateTime", "AssertionDateTime",
    "AssertionExpirationDateTime", "AttributeModificationDateTime",
    "BeamHoldTransitionDateTime", "CalibrationDate", "CalibrationDateTime", "CalibrationTime",
    "CertifiedTimestamp", "ContentDate", "ContentTime", "ContextGroupLocalVersion",
    "ContextGroupVersion", "ContrastBolusStartTime", "ContrastBolusStopTime",
    "ContributionDateTime", "CreationDate", "CreationTime", "CurveDate", "CurveTime", "Date",
    "DateOfDocumentOrVerbalTransactionTrial", "DateOfInstallation", "DateOfLastCalibration",
    "DateOfLastDetectorCalibration", "DateOfManufacture", "DateOfSecondaryCapture", "DateTime",
    "DateTimeOfLastCalibration", "DecayCorrectionDateTime", "DigitalSignatureDateTime",
    "DischargeDate", "DischargeTime", "EffectiveDateTime", "EndAcquisitionDateTime",
    "EthicsCommitteeApprovalEffectivenessEndDate",
    "EthicsCommitteeApprovalEffectivenessStartDate", "ExclusionStartDateTime",
    "ExpectedCompletionDateTime", "FindingsGroupRecordingDateTrial",
    "FindingsGroupRecordingTimeTrial", "FirstTreatmentDate", "FrameAcquisitionDateTime",
    "FrameOriginTimestamp", "FrameReferenceDateTime", "FunctionalSyncPulse", "GPSDateStamp",
    "HL7DocumentEffectiveTime", "HangingProtocolCreationDateTime",
    "ImpedanceMeasurementDateTime", "InformationIssueDateTime", "InstanceCoercionDateTime",
    "InstanceCreationDate", "InstanceCreationTime", "InstructionPerformedDateTime",
    "IntendedFractionStartTime", "IntendedPhaseEndDate", "IntendedPhaseStartDate",
    "InterlockDateTime", "InterpretationApprovalDate", "InterpretationApprovalTime",
    "InterpretationRecordedDate", "InterpretationRecordedTime",
    "InterpretationTranscriptionDate", "InterpretationTranscriptionTime",
    "InterventionDrugStartTime", "InterventionDrugStopTime",
    "IssueDateOfImagingServiceRequest", "IssueTimeOfImagingServiceRequest",
    "LastMenstrualDate", "ModifiedImageDate", "ModifiedImageTime", "MostRecentTreatmentDate",
    "ObservationDateTime", "ObservationDateTrial", "ObservationStartDateTime",
    "ObservationTimeTrial", "OverlayDate", "OverlayTime", "OverrideDateTime",
    "ParticipationDateTime", "PerformedProcedureStepEndDate",
    "PerformedProcedureStepEndDateTime", "PerformedProcedureStepEndTime",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartDateTime",
    "PerformedProcedureStepStartTime", "PresentationCreationDate", "PresentationCreationTime",
    "ProcedureStepCancellationDateTime", "ProductExpirationDateTime", "ROIDateTime",
    "ROIObservationDateTime", "RTPlanDate", "RTPlanTime", "RadiopharmaceuticalStartDateTime",
    "RadiopharmaceuticalStartTime", "RadiopharmaceuticalStopDateTime",
    "RadiopharmaceuticalStopTime", "RecordedRTControlPointDateTime", "ReferencedDateTime",
    "ReviewDate", "ReviewTime", "SOPAuthorizationDateTime", "SafePositionExitDate",
    "SafePositionExitTime", "SafePositionReturnDate", "SafePositionReturnTime",
    "ScheduledAdmissionDate", "ScheduledAdmissionTime", "ScheduledDischargeDate",
    "ScheduledDischargeTime", "ScheduledProcedureStepEndDate", "ScheduledProcedureStepEndTime",
    "ScheduledProcedureStepExpirationDateTime", "ScheduledProcedureStepModificationDateTime",
    "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartDateTime",
    "ScheduledProcedureStepStartTime", "ScheduledStudyStartDate", "ScheduledStudyStartTime",
    "ScheduledStudyStopDate", "ScheduledStudyStopTime", "SelectorDAValue", "SelectorDTValue",
    "SelectorTMValue", "SeriesDate", "SeriesTime", "SourceEndDateTime", "SourceStartDateTime",
    "SourceStrengthReferenceDate", "SourceStrengthReferenceTime", "StartAcquisitionDateTime",
    "StructureSetDate", "StructureSetTime", "StudyArrivalDate", "StudyArrivalTime",
    "StudyCompletionDate", "StudyCompletionTime", "StudyDate", "StudyReadDate",
    "StudyReadTime", "StudyTime", "StudyVerifiedDate", "StudyVerifiedTime",
    "SubstanceAdministrationDateTime", "TemplateLocalVersion", "TemplateVersion", "Time",
    "TimeOfDocumentCreationOrVerbalTransactionTrial", "TimeOfLastCalibration",
    "TimeOfLastDetectorCalibration", "TimeOfSecondaryCapture", "TimezoneOffsetFromUTC",
    "TreatmentControlPointDate", "TreatmentControlPointTime", "TreatmentDate", "TreatmentTime",
    "TreatmentToleranceViolationDateTime", "VerificationDateTime",
)

# Clean Descriptors Option (DCM 113105): free-text descriptions kept after cleaning.
CLEAN_DESCRIPTORS_CLEAN = (
    "AcquisitionComments", "AcquisitionDeviceProcessingDescription",
    "AcquisitionFieldOfViewLabel", "AcquisitionProtocolDescription",
    "AdditionalPatientHistory", "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription", "Allergies", "AnnotationGroupDescription",
    "AnnotationGroupLabel", "BeamDescription", "BolusDescription",
    "ClinicalTrialSeriesDescription", "ClinicalTrialTimePointDescription",
    "CommentsOnRadiationDose", "CommentsOnThePerformedProcedureStep", "CompensatorDescription",
    "ConceptualVolumeCombinationDescription", "ConceptualVolumeDescription",
    "ContainerDescription", "ContrastBolusAgent", "ContributionDescription",
    "DecompositionDescription", "DerivationDescription", "DeviceSettingDescription",
    "DischargeDiagnosisDescription", "DisplacementReferenceLabel", "DoseReferenceDescription",
    "EntityDescription", "EntityLabel", "EntityLongLabel", "EntityName",
    "EquipmentFrameOfReferenceDescription", "FilterLookupTableDescription",
    "FixationDeviceDescription", "FractionGroupDescription", "FractionationNotes",
    "FrameComments", "IdentifyingComments", "ImageComments", "ImagingServiceRequestComments",
    "Impressions", "InterlockDescription", "InterlockOriginDescription",
    "InterpretationDiagnosisDescription", "InterpretationText", "LabelText",
    "LongDeviceDescription", "MakerNote", "MedicalAlerts", "MultienergyAcquisitionDescription",
    "Occupation", "PatientComments", "PatientSetupPhotoDescription", "PatientState",
    "PatientTreatmentPreparationMethodDescription",
    "PatientTreatmentPreparationProcedureParameterDescription",
    "PerformedProcedureStepDescription", "PositionAcquisitionTemplateDescription",
    "PositionAcquisitionTemplateName", "PrescriptionDescription", "PrescriptionNotes",
    "PrescriptionNotesSequence", "PriorTreatmentDoseDescription", "ProtocolName",
    "PyramidDescription", "PyramidLabel", "ROIDescription", "ROIGenerationDescription",
    "ROIName", "ROIObservationDescription", "ROIObservationLabel",
    "RTPhysicianIntentNarrative", "RTPlanDescription", "RTPlanLabel", "RTPlanName",
    "RTPrescriptionLabel", "RTToleranceSetLabel", "RTTreatmentApproachLabel",
    "RadiationDoseIdentificationLabel", "RadiationDoseInVivoMeasurementLabel",
    "RadiationGenerationModeDescription", "RadiationGenerationModeLabel",
    "ReasonForOmissionDescription", "ReasonForRequestedProcedureCodeSequence",
    "ReasonForStudy", "ReasonForSuperseding", "ReasonForTheAttributeModification",
    "ReasonForTheImagingServiceRequest", "ReasonForTheRequestedProcedure", "ReasonForVisit",
    "ReasonForVisitCodeSequence", "RequestAttributesSequence", "RequestedContrastAgent",
    "RequestedProcedureComments", "RequestedProcedureDescription",
    "RequestedSeriesDescription", "RespiratoryMotionCompensationTechniqueDescription",
    "ResultsComments", "ScheduledProcedureStepDescription", "SelectorLOValue",
    "SelectorLTValue", "SelectorSHValue", "SelectorSTValue", "SelectorUTValue",
    "SeriesDescription", "ServiceEpisodeDescription", "SetupTechniqueDescription",
    "ShieldingDeviceDescription", "SpecimenDetailedDescription", "SpecimenShortDescription",
    "StructureSetDescription", "StructureSetLabel", "StructureSetName", "StudyComments",
    "StudyDescription", "TreatmentPositionGroupLabel", "TreatmentSite", "TreatmentSites",
    "TreatmentTechniqueNotes", "TreatmentToleranceViolationDescription", "UserContentLabel",
    "UserContentLongLabel", "VisitComments", "WaveformFilterDescription",
)

# Retain Safe Private Option (DCM 113111): (private creator, group, element byte) of the private
# attributes PS3.15 Table E.3.10-1 lists as safe (vendor scale factors, diffusion b-values and
# directions, CT pitch); every other private attribute is removed.
SAFE_PRIVATE = frozenset({
    ("Philips PET Private Group", 0x7053, 0x00), ("Philips PET Private Group", 0x7053, 0x09),
    ("ELSCINT1", 0x00E1, 0x21), ("ELSCINT1", 0x00E1, 0x50), ("ELSCINT1", 0x01E1, 0x26),
    ("ELSCINT1", 0x01F1, 0x01), ("ELSCINT1", 0x01F1, 0x07), ("ELSCINT1", 0x01F1, 0x26),
    ("ELSCINT1", 0x01F1, 0x27),
    ("GEMS_ACQU_01", 0x0019, 0x23), ("GEMS_ACQU_01", 0x0019, 0x24),
    ("GEMS_ACQU_01", 0x0019, 0x27), ("GEMS_ACQU_01", 0x0019, 0x9E),
    ("GEMS_PARM_01", 0x0043, 0x27), ("GEMS_PARM_01", 0x0043, 0x39),
    ("GEMS_PARM_01", 0x0043, 0x6F), ("GEMS_HELIOS_01", 0x0045, 0x01),
    ("GEMS_HELIOS_01", 0x0045, 0x02), ("GEMS_SERS_01", 0x0025, 0x07),
    ("GEIIS PACS", 0x0903, 0x10), ("GEIIS PACS", 0x0903, 0x11), ("GEIIS PACS", 0x0903, 0x12),
    ("Philips Imaging DD 001", 0x2001, 0x03), ("Philips Imaging DD 001", 0x2001, 0x04),
    ("Philips MR Imaging DD 001", 0x2005, 0x0D), ("Philips MR Imaging DD 001", 0x2005, 0x0E),
    ("SIEMENS MR HEADER", 0x0019, 0x0C), ("SIEMENS MR HEADER", 0x0019, 0x0D),
    ("SIEMENS MR HEADER", 0x0019, 0x0E), ("SIEMENS MR HEADER", 0x0019, 0x27),
})
